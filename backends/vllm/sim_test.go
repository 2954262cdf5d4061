package vllm_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/perfgate/perfgate/backends"
	"github.com/perfgate/perfgate/backends/mockcontainer"
	"github.com/perfgate/perfgate/backends/vllm"
)

// TestMain defaults testcontainers' environment for an engine without a registry (see
// backends.SetTestEnv), then proves that no container the tests created is left and no
// goroutine leaked.
func TestMain(m *testing.M) {
	if set := backends.SetTestEnv(context.Background()); len(set) > 0 {
		fmt.Fprintf(os.Stderr, "vllm: testcontainers environment defaulted: %s\n", strings.Join(set, " "))
	}
	code := m.Run()
	if left, err := backends.Leftovers(context.Background()); err == nil && len(left) > 0 {
		fmt.Fprintf(os.Stderr, "containers left behind: %q\n", left)
		code = 1
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// TestDrivesSimulatorImage runs the simulator image through vllm.Start: the same request
// builder, launch flags (--model, --tensor-parallel-size, --max-num-seqs,
// --enable-prefix-caching, --enable-prompt-tokens-details, extra args), readiness check and
// teardown a real vllm/vllm-openai image gets. Only the image, the GPU count and the cache
// differ.
func TestDrivesSimulatorImage(t *testing.T) {
	img := mockcontainer.BuildImage(t)
	cfg := vllm.Config{
		Image:      img,
		Model:      "sim-llama-8b",
		MaxNumSeqs: 8,
		ExtraArgs:  []string{"--max-model-len", "4096", "--gpu-memory-utilization", "0.9"},
		GPUs:       backends.NoGPU,
		CacheDir:   backends.NoCache,
	}
	srv := vllm.Start(t, cfg)

	want := map[string]string{"backend": "vllm", "model": "sim-llama-8b", "image": img, "gpus": "0"}
	if diff := cmp.Diff(want, srv.Describe()); diff != "" {
		t.Errorf("Describe (-want +got):\n%s", diff)
	}
	resp, err := http.Post(srv.BaseURL()+"/v1/completions", "application/json", strings.NewReader(
		`{"model":"sim-llama-8b","prompt":[1,2,3,4,5,6,7,8],"max_tokens":5,"ignore_eos":true,"stream":true}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var events int
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok && d != "[DONE]" {
			events++
		}
	}
	if events != 5 {
		t.Errorf("got %d stream events, want 5", events)
	}
	logs, err := srv.LogTail(t.Context(), 20)
	if err != nil {
		t.Fatal(err)
	}
	// vLLM flags the simulator does not model are accepted with a warning.
	for _, flag := range []string{"--tensor-parallel-size", "--enable-prompt-tokens-details", "--gpu-memory-utilization"} {
		if !strings.Contains(logs, flag) {
			t.Errorf("simulator log does not mention %s:\n%s", flag, logs)
		}
	}
	t.Logf("simulator log:\n%s", logs)
}

package vllm_test

import (
	"bufio"
	"net/http"
	"strings"
	"testing"

	"github.com/perfgate/perfgate/backends/backendstest"

	"github.com/google/go-cmp/cmp"

	"github.com/perfgate/perfgate/backends"
	"github.com/perfgate/perfgate/backends/mockcontainer"
	"github.com/perfgate/perfgate/backends/vllm"
	"github.com/perfgate/perfgate/fixtures"
	"github.com/perfgate/perfgate/perftest"
	"github.com/perfgate/perfgate/perftest/metric"
)

// TestMain checks that no container or goroutine outlives the tests.
func TestMain(m *testing.M) { backendstest.Main(m) }

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

// TestSimulatorImageExportsSpans: with Traces, the container is launched with
// --otlp-traces-endpoint pointing at the Docker host, where the session's receiver
// listens: every request of a case gets the server's span joined to it.
func TestSimulatorImageExportsSpans(t *testing.T) {
	img := mockcontainer.BuildImage(t)
	srv := vllm.Start(t, vllm.Config{Image: img, Model: "sim-llama-8b", GPUs: backends.NoGPU, CacheDir: backends.NoCache, Traces: true})
	res, err := perftest.Execute(t.Context(), perftest.Case{Target: srv, Workload: fixtures.Synthetic{ISL: 64, OSL: 4, Prompts: 8, Seed: 1},
		Load: perftest.Concurrency(2), Count: 2, Warmup: -1}, perftest.ExecOptions{Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.ConfigValue(metric.KeyServerTiming); got != "otlp" {
		t.Errorf("server-timing %q, want otlp", got)
	}
	for _, rep := range res.Reps {
		for _, r := range rep.Records {
			if r.Server == nil || r.Server.Source != "otlp" || r.Server.E2E <= 0 {
				t.Errorf("request %d: server phases %+v", r.Index, r.Server)
			}
		}
	}
}

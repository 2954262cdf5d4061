package mockcontainer_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/perfgate/perfgate/backends/backendstest"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"

	"github.com/perfgate/perfgate/backends/internal/kit"
	"github.com/perfgate/perfgate/backends/internal/kittest"
	"github.com/perfgate/perfgate/backends/mockcontainer"
)

// TestMain checks that no container or goroutine outlives the tests.
func TestMain(m *testing.M) { backendstest.Main(m) }

// TestRequest checks the simulator's exact request: vLLM's launch flags to the image's
// `perfgate mock` entrypoint, no GPU, no model cache, Docker's shared memory.
func TestRequest(t *testing.T) {
	t.Setenv("HF_TOKEN", "")
	got, err := mockcontainer.Request(mockcontainer.Config{Image: "perfgate/mock:abc", MaxNumSeqs: 8, Args: []string{"--speedup-ratio", "10"}})
	if err != nil {
		t.Fatal(err)
	}
	want := testcontainers.GenericContainerRequest{
		ContainerRequest: testcontainers.ContainerRequest{
			Image: "perfgate/mock:abc",
			Cmd: []string{
				"sim-llama-8b", "--host", "0.0.0.0", "--port", "8000", "--tensor-parallel-size", "1",
				"--max-num-seqs", "8", "--enable-prefix-caching", "--enable-prompt-tokens-details", "--speedup-ratio", "10",
			},
			Env:          map[string]string{"VLLM_SERVER_DEV_MODE": "1"}, // the vllm module's; the simulator serves the route anyway
			ExposedPorts: []string{"8000/tcp"},
			Labels:       kittest.Labels("mock"),
			WaitingFor:   &kit.Ready{Port: "8000/tcp", Model: "sim-llama-8b", StartupTimeout: 2 * time.Minute},
		},
		Started: true,
	}
	if diff := cmp.Diff(want, got, kittest.RequestOpts); diff != "" {
		t.Errorf("Request mismatch (-want +got):\n%s", diff)
	}
	if _, err := mockcontainer.Request(mockcontainer.Config{}); err == nil {
		t.Error("Request without an image succeeded")
	}

	// The feature fields pass vLLM's flags, before Args.
	got, err = mockcontainer.Request(mockcontainer.Config{Image: "perfgate/mock:abc", ReasoningParser: "qwen3", ToolCallParser: "hermes",
		SpeculativeConfig: `{"method":"eagle3","num_speculative_tokens":3}`, LimitMMPerPrompt: `{"image":2}`, Runner: "generate",
		Args: []string{"--reasoning-slowdown", "1.2"}})
	if err != nil {
		t.Fatal(err)
	}
	wantCmd := []string{
		"sim-llama-8b", "--host", "0.0.0.0", "--port", "8000", "--tensor-parallel-size", "1",
		"--enable-prefix-caching", "--enable-prompt-tokens-details",
		"--reasoning-parser", "qwen3", "--enable-auto-tool-choice", "--tool-call-parser", "hermes",
		"--speculative-config", `{"method":"eagle3","num_speculative_tokens":3}`, "--limit-mm-per-prompt", `{"image":2}`,
		"--runner", "generate", "--reasoning-slowdown", "1.2",
	}
	if diff := cmp.Diff(wantCmd, got.Cmd); diff != "" {
		t.Errorf("Cmd (-want +got):\n%s", diff)
	}
}

// stream sends a streamed completion of maxTokens tokens for a token-id prompt and returns
// the number of token events and the usage chunk.
func stream(t *testing.T, baseURL string, prompt []int, maxTokens int) (events int, usage map[string]any) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{
		"model": "sim-llama-8b", "prompt": prompt, "max_tokens": maxTokens, "ignore_eos": true,
		"stream": true, "stream_options": map[string]any{"include_usage": true},
	})
	resp, err := http.Post(baseURL+"/v1/completions", "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /v1/completions: %s", resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	done := false
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		if data == "[DONE]" {
			done = true
			break
		}
		var ev struct {
			Choices []json.RawMessage `json:"choices"`
			Usage   map[string]any    `json:"usage"`
		}
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			t.Fatalf("event %q: %v", data, err)
		}
		if len(ev.Choices) > 0 {
			events++
		}
		if ev.Usage != nil {
			usage = ev.Usage
		}
	}
	if !done {
		t.Fatalf("stream ended without [DONE]: %v", sc.Err())
	}
	return events, usage
}

// TestStartStreamsCompletion builds the simulator image from this checkout, starts it, and
// streams completions whose shared prefix the second request finds cached.
func TestStartStreamsCompletion(t *testing.T) {
	start := time.Now()
	srv := mockcontainer.Start(t, mockcontainer.Config{MaxNumSeqs: 8, Args: []string{"--speedup-ratio", "10"}})
	t.Logf("image built (or reused) and simulator ready in %v at %s", time.Since(start).Round(time.Millisecond), srv.BaseURL())

	want := map[string]string{"backend": "mock", "model": "sim-llama-8b", "image": "perfgate/mock", "gpus": "0"}
	if diff := cmp.Diff(want, srv.Describe()); diff != "" {
		t.Errorf("Describe (-want +got):\n%s", diff)
	}
	prompt := make([]int, 64)
	for i := range prompt {
		prompt[i] = 1000 + i
	}
	events, usage := stream(t, srv.BaseURL(), prompt, 12)
	if events != 12 || usage["completion_tokens"] != 12.0 || usage["prompt_tokens"] != 64.0 {
		t.Errorf("first stream: %d token events, usage %v; want 12 events, 64 prompt and 12 completion tokens", events, usage)
	}
	_, usage = stream(t, srv.BaseURL(), prompt, 4)
	details, _ := usage["prompt_tokens_details"].(map[string]any)
	if cached, _ := details["cached_tokens"].(float64); cached < 48 {
		t.Errorf("second stream of the same prompt: usage %v; want >= 48 cached tokens (3 full blocks of 16)", usage)
	}
	resp, err := http.Get(srv.MetricsURL())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET %s: %s", srv.MetricsURL(), resp.Status)
	}
}

// TestStartWithFeatures starts the image with vLLM's feature flags: a reasoning model
// with speculative decoding streams its reasoning in delta.reasoning and exports
// vllm:spec_decode_*.
func TestStartWithFeatures(t *testing.T) {
	srv := mockcontainer.Start(t, mockcontainer.Config{ReasoningParser: "qwen3",
		SpeculativeConfig: `{"method":"ngram","num_speculative_tokens":2}`, Args: []string{"--speedup-ratio", "10"}})
	resp, err := http.Post(srv.BaseURL()+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"model":"sim-llama-8b","messages":[{"role":"user","content":"hi"}],"max_tokens":6,"stream":true}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `"reasoning":" tok`) {
		t.Errorf("no reasoning delta in\n%s", b)
	}
	resp, err = http.Get(srv.MetricsURL())
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(m), "vllm:spec_decode_num_draft_tokens_total") {
		t.Error("no vllm:spec_decode_num_draft_tokens_total in /metrics")
	}
}

// recorder is a testing.TB whose Errorf records instead of failing, to show the message a
// perf case gets when the backend dies under it.
type recorder struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func (r *recorder) reported() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.errs, "\n")
}

// TestKilledMidRun kills the simulator container while a long stream is in flight: the test
// is failed with the exit code and the simulator's last log lines.
func TestKilledMidRun(t *testing.T) {
	rec := &recorder{TB: t}
	srv := mockcontainer.Start(rec, mockcontainer.Config{})

	body := `{"model":"sim-llama-8b","prompt":[1,2,3,4],"max_tokens":100000,"ignore_eos":true,"stream":true}`
	resp, err := http.Post(srv.BaseURL()+"/v1/completions", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for n := 0; n < 5 && sc.Scan(); {
		if strings.HasPrefix(sc.Text(), "data: ") {
			n++
		}
	}
	cli, err := testcontainers.NewDockerClientWithOpts(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if _, err := cli.ContainerKill(t.Context(), srv.GetContainerID(), client.ContainerKillOptions{Signal: "KILL"}); err != nil {
		t.Fatal(err)
	}
	for sc.Scan() {
	}
	deadline := time.Now().Add(10 * time.Second)
	for srv.Err() == nil && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	got := rec.reported()
	t.Logf("the perf case fails with:\n%s", got)
	for _, want := range []string{"mock container", "exited with code 137 (killed by signal 9)", "log lines", "perfgate mock: serving model sim-llama-8b"} {
		if !strings.Contains(got, want) {
			t.Errorf("failure message lacks %q", want)
		}
	}
}

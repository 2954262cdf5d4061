package mock_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/perfgate/perfgate/backends/mock"
)

// Replay simulates requests on a virtual clock: the second request finds all but the last
// block of its 512-token prompt cached, so its time to first token is the profile's prefill
// time of 16 tokens instead of 512.
func ExampleReplay() {
	prompt := make([]int, 512)
	for i := range prompt {
		prompt[i] = 100 + i
	}
	reqs := func(yield func(mock.ReplayRequest, error) bool) {
		_ = yield(mock.ReplayRequest{Tokens: prompt, MaxTokens: 8}, nil) &&
			yield(mock.ReplayRequest{Arrival: time.Second, Tokens: prompt, MaxTokens: 8}, nil)
	}
	st, err := mock.Replay(mock.Config{}, reqs, func(r mock.ReplayResult) {
		fmt.Printf("request %d: %d of %d prompt tokens cached, TTFT %v, e2e %v\n",
			r.Index, r.CachedTokens, r.PromptTokens, r.TTFT.Round(time.Microsecond), r.E2E.Round(time.Microsecond))
	})
	if err != nil {
		panic(err)
	}
	fmt.Printf("hit ratio %.3f\n", st.HitRatio())
	// Output:
	// request 0: 0 of 512 prompt tokens cached, TTFT 24.383ms, e2e 65.306ms
	// request 1: 496 of 512 prompt tokens cached, TTFT 16.743ms, e2e 57.666ms
	// hit ratio 0.484
}

// New and Serve run the simulator as a command does; in a test, Start does both and stops
// the server when the test ends.
func ExampleNew() {
	srv, err := mock.New(mock.Config{Model: "sim-llama-8b", SpeedupRatio: 10})
	if err != nil {
		panic(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go srv.Serve(ln)
	defer srv.Close()

	resp, err := http.Post("http://"+ln.Addr().String()+"/v1/completions", "application/json",
		strings.NewReader(`{"model":"sim-llama-8b","prompt":"Say hello","max_tokens":3}`))
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	var out struct {
		Choices []struct {
			Text         string `json:"text"`
			FinishReason string `json:"finish_reason"`
		} `json:"choices"`
		Usage struct {
			PromptTokens     int `json:"prompt_tokens"`
			CompletionTokens int `json:"completion_tokens"`
		} `json:"usage"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		panic(err)
	}
	fmt.Printf("%q %s, usage %d+%d\n", out.Choices[0].Text, out.Choices[0].FinishReason, out.Usage.PromptTokens, out.Usage.CompletionTokens)
	fmt.Println(srv.Describe())
	// Output:
	// " tok tok tok" length, usage 2+3
	// map[backend:mock model:sim-llama-8b]
}

// Speculative decoding on the virtual clock: the same request at two acceptance rates. At
// 0.5 fewer draft tokens are accepted per step, so the request takes more steps and
// longer; vLLM's acceptance rate (accepted / draft tokens, which is what AcceptanceRate
// sets) and mean acceptance length (1 + accepted / drafts) fall with it. A perf case
// reads them from vllm:spec_decode_*.
func ExampleSpeculative() {
	prompt := make([]int, 256)
	for i := range prompt {
		prompt[i] = 100 + i
	}
	for _, p := range []float64{0.7, 0.5} {
		cfg := mock.Config{Speculative: mock.Speculative{Method: "eagle3", NumSpeculativeTokens: 3, AcceptanceRate: p}}
		reqs := func(yield func(mock.ReplayRequest, error) bool) {
			yield(mock.ReplayRequest{Tokens: prompt, MaxTokens: 1000}, nil)
		}
		st, err := mock.Replay(cfg, reqs, nil)
		if err != nil {
			panic(err)
		}
		fmt.Printf("acceptance %.1f: %d tokens in %d steps, %v; acceptance rate %.2f, mean acceptance length %.2f\n",
			p, st.OutputTokens, st.Steps, st.Makespan.Round(time.Millisecond),
			float64(st.AcceptedTokens)/float64(st.DraftTokens), 1+float64(st.AcceptedTokens)/float64(st.Drafts))
	}
	// Output:
	// acceptance 0.7: 1000 tokens in 323 steps, 2.204s; acceptance rate 0.70, mean acceptance length 3.10
	// acceptance 0.5: 1000 tokens in 390 steps, 2.658s; acceptance rate 0.52, mean acceptance length 2.57
}

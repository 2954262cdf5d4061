package mock

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// post sends a JSON body and returns status and body.
func post(t *testing.T, c *http.Client, url, body string) (int, []byte) {
	t.Helper()
	resp, b := do(t, c, http.MethodPost, url, body)
	return resp.StatusCode, []byte(b)
}

// metric reads one sample of a counter or gauge from /metrics.
func metric(t *testing.T, c *http.Client, srv *Server, name string) float64 {
	t.Helper()
	resp, err := c.Get(srv.MetricsURL())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	f, ok := fams[name]
	if !ok || len(f.Metric) == 0 {
		t.Fatalf("metric %s missing", name)
	}
	m := f.Metric[0]
	if l := m.GetLabel(); len(l) == 0 || l[0].GetName() != "model_name" || l[0].GetValue() != srv.Model() {
		t.Fatalf("metric %s labels %v", name, l)
	}
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return m.Histogram.GetSampleSum()
	}
	t.Fatalf("metric %s has no value", name)
	return 0
}

func tokenList(n, base int) string {
	var b strings.Builder
	b.WriteByte('[')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprint(&b, base+i*7%31999)
	}
	b.WriteByte(']')
	return b.String()
}

type usageChunk struct {
	Choices []json.RawMessage `json:"choices"`
	Usage   *usage            `json:"usage"`
}

// timedStream streams a request and returns the time to the first event and the usage.
func timedStream(t *testing.T, c *http.Client, url, body string) (time.Duration, usage) {
	t.Helper()
	start := time.Now()
	resp, err := c.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ttft time.Duration
	var u usage
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		d, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		if ttft == 0 {
			ttft = time.Since(start)
		}
		var ch usageChunk
		if d != "[DONE]" && json.Unmarshal([]byte(d), &ch) == nil && ch.Usage != nil {
			u = *ch.Usage
		}
	}
	return ttft, u
}

// The same 512-token prompt twice with block size 16 over HTTP: the second reports 496
// cached tokens, vllm:prefix_cache_hits_total grows by 496, and the second TTFT is lower.
// (The exact TTFT gain is asserted on the virtual clock in TestPrefixCacheSamePromptTwice;
// here the profile is slowed 10x so that the gain, 77 ms, stands above scheduling noise.)
func TestHTTPPrefixCache(t *testing.T) {
	srv := Start(t, Config{BlockSize: 16, SpeedupRatio: 0.1})
	c := client(t)
	url := srv.BaseURL() + "/v1/completions"
	body := `{"model":"sim-llama-8b","prompt":` + tokenList(512, 100) + `,"max_tokens":2,"ignore_eos":true,"stream":true,"stream_options":{"include_usage":true}}`
	hits0 := metric(t, c, srv, "vllm:prefix_cache_hits_total")
	ttft1, u1 := timedStream(t, c, url, body)
	hits1 := metric(t, c, srv, "vllm:prefix_cache_hits_total")
	srvTTFT1 := metric(t, c, srv, "vllm:time_to_first_token_seconds")
	ttft2, u2 := timedStream(t, c, url, body)
	hits2 := metric(t, c, srv, "vllm:prefix_cache_hits_total")
	srvTTFT2 := metric(t, c, srv, "vllm:time_to_first_token_seconds") - srvTTFT1
	if u1.PromptTokens != 512 || u1.PromptTokensDetails.CachedTokens != 0 || u2.PromptTokensDetails.CachedTokens != 496 {
		t.Fatalf("usage %+v then %+v", u1, u2)
	}
	if hits1-hits0 != 0 || hits2-hits1 != 496 {
		t.Fatalf("prefix_cache_hits_total %v -> %v -> %v", hits0, hits1, hits2)
	}
	if q := metric(t, c, srv, "vllm:prefix_cache_queries_total"); q != 1024 {
		t.Errorf("prefix_cache_queries_total = %v, want 1024", q)
	}
	p := DefaultProfile()
	want := (p.PrefillTime(512) - p.PrefillTime(16)) * 10
	t.Logf("client TTFT %v then %v; server TTFT gain %.1fms, profile predicts %v",
		ttft1, ttft2, 1000*(srvTTFT1-srvTTFT2), want)
	if ttft2 >= ttft1 {
		t.Errorf("second TTFT %v not below first %v", ttft2, ttft1)
	}
}

func TestBadInput(t *testing.T) {
	srv := Start(t, Config{MaxModelLen: 64, MaxBodyBytes: 4096})
	c := client(t)
	url := srv.BaseURL() + "/v1/completions"
	for _, tc := range []struct {
		name, path, body string
		status           int
		typ              string
	}{
		{"malformed JSON", url, `{"prompt": [1,2`, 400, "BadRequestError"},
		{"wrong type", url, `{"prompt": [1,2], "max_tokens": "ten"}`, 400, "BadRequestError"},
		{"unknown model", url, `{"model":"gpt-9","prompt":[1],"max_tokens":1}`, 404, "NotFoundError"},
		{"max_tokens 0", url, `{"prompt":[1],"max_tokens":0}`, 400, "BadRequestError"},
		{"max_tokens negative", url, `{"prompt":[1],"max_tokens":-3}`, 400, "BadRequestError"},
		{"no prompt", url, `{"max_tokens":3}`, 400, "BadRequestError"},
		{"empty prompt", url, `{"prompt":[],"max_tokens":3}`, 400, "BadRequestError"},
		{"negative token", url, `{"prompt":[-1],"max_tokens":3}`, 400, "BadRequestError"},
		{"batch", url, `{"prompt":["a","b"],"max_tokens":3}`, 400, "BadRequestError"},
		{"nested too deep", url, `{"prompt":[[[1]]],"max_tokens":3}`, 400, "BadRequestError"},
		{"over max_model_len", url, `{"prompt":` + tokenList(60, 100) + `,"max_tokens":10}`, 400, "BadRequestError"},
		{"prompt at max_model_len", url, `{"prompt":` + tokenList(64, 100) + `,"max_tokens":1}`, 400, "BadRequestError"},
		{"oversized body", url, `{"prompt":"` + strings.Repeat("x ", 4000) + `","max_tokens":1}`, 413, "RequestEntityTooLarge"},
		{"chat without messages", srv.BaseURL() + "/v1/chat/completions", `{"messages":[]}`, 400, "BadRequestError"},
		{"chat bad role", srv.BaseURL() + "/v1/chat/completions", `{"messages":[{"role":"wizard","content":"hi"}]}`, 400, "BadRequestError"},
		{"no route", srv.BaseURL() + "/v2/nothing", `{}`, 404, "NotFoundError"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, b := post(t, c, tc.path, tc.body)
			var e struct {
				Error struct {
					Message string `json:"message"`
					Type    string `json:"type"`
					Code    int    `json:"code"`
				} `json:"error"`
			}
			if err := json.Unmarshal(b, &e); err != nil {
				t.Fatalf("body %q: %v", b, err)
			}
			if status != tc.status || e.Error.Code != tc.status || e.Error.Type != tc.typ || e.Error.Message == "" {
				t.Fatalf("got %d %s", status, b)
			}
		})
	}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET completions: %d", resp.StatusCode)
	}
	// Still serving.
	if status, b := post(t, c, url, `{"prompt":[1,2,3],"max_tokens":2}`); status != 200 {
		t.Fatalf("after bad input: %d %s", status, b)
	}
}

func TestNonStreaming(t *testing.T) {
	srv := Start(t, Config{SpeedupRatio: 100})
	c := client(t)
	status, b := post(t, c, srv.BaseURL()+"/v1/completions", `{"prompt":"the quick brown fox","max_tokens":3,"temperature":0.7,"some_future_field":{"x":1}}`)
	var r struct {
		Object  string `json:"object"`
		Model   string `json:"model"`
		Choices []struct {
			Text         string `json:"text"`
			FinishReason string `json:"finish_reason"`
		} `json:"choices"`
		Usage usage `json:"usage"`
	}
	if err := json.Unmarshal(b, &r); err != nil || status != 200 {
		t.Fatalf("%d %s: %v", status, b, err)
	}
	if r.Object != "text_completion" || r.Model != "sim-llama-8b" || r.Choices[0].Text != " tok tok tok" ||
		r.Choices[0].FinishReason != "length" || r.Usage.PromptTokens != 4 || r.Usage.CompletionTokens != 3 {
		t.Fatalf("response %s", b)
	}
	status, b = post(t, c, srv.BaseURL()+"/v1/chat/completions", `{"model":"sim-llama-8b","messages":[{"role":"user","content":"hello there"}],"max_completion_tokens":2}`)
	var ch struct {
		Object  string `json:"object"`
		Choices []struct {
			Message struct{ Role, Content string } `json:"message"`
		} `json:"choices"`
		Usage usage `json:"usage"`
	}
	if err := json.Unmarshal(b, &ch); err != nil || status != 200 {
		t.Fatalf("%d %s: %v", status, b, err)
	}
	// user marker, two words, end marker, assistant marker.
	if ch.Object != "chat.completion" || ch.Choices[0].Message.Content != " tok tok" || ch.Usage.PromptTokens != 5 {
		t.Fatalf("chat response %s", b)
	}
}

func TestChatStream(t *testing.T) {
	srv := Start(t, Config{SpeedupRatio: 100})
	ev := stream(t, client(t), srv.BaseURL()+"/v1/chat/completions",
		`{"model":"sim-llama-8b","messages":[{"role":"system","content":"be brief"},{"role":"user","content":[{"type":"text","text":"hi"}]}],"max_tokens":3,"stream":true,"stream_options":{"include_usage":true}}`)
	if len(ev) != 5 || ev[4] != "[DONE]" {
		t.Fatalf("events %q", ev)
	}
	type delta struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	}
	var first, last struct {
		Object  string `json:"object"`
		Choices []struct {
			Delta        delta   `json:"delta"`
			FinishReason *string `json:"finish_reason"`
		} `json:"choices"`
	}
	json.Unmarshal([]byte(ev[0]), &first)
	json.Unmarshal([]byte(ev[2]), &last)
	if first.Object != "chat.completion.chunk" || first.Choices[0].Delta.Role != "assistant" || first.Choices[0].Delta.Content != " tok" || first.Choices[0].FinishReason != nil {
		t.Errorf("first chunk %s", ev[0])
	}
	if last.Choices[0].FinishReason == nil || *last.Choices[0].FinishReason != "length" {
		t.Errorf("last chunk %s", ev[2])
	}
	var u usageChunk
	if err := json.Unmarshal([]byte(ev[3]), &u); err != nil || len(u.Choices) != 0 || u.Usage == nil || u.Usage.CompletionTokens != 3 || u.Usage.PromptTokens != 8 {
		t.Errorf("usage chunk %s", ev[3])
	}
}

// Equal text prefixes map to equal token ids, so they share cache blocks.
func TestTextPromptsSharePrefix(t *testing.T) {
	srv := Start(t, Config{BlockSize: 16, SpeedupRatio: 100})
	c := client(t)
	prefix := strings.Repeat("alpha beta gamma delta ", 10) // 40 words
	var cached []int
	for _, prompt := range []string{`"` + prefix + `one"`, `["` + prefix + `two three"]`} {
		_, u := timedStream(t, c, srv.BaseURL()+"/v1/completions", `{"prompt":`+prompt+`,"max_tokens":1,"stream":true,"stream_options":{"include_usage":true}}`)
		cached = append(cached, u.PromptTokensDetails.CachedTokens)
	}
	if cached[0] != 0 || cached[1] != 32 {
		t.Fatalf("cached tokens %v, want [0 32]", cached)
	}
}

func TestModelsAndHealth(t *testing.T) {
	srv := Start(t, Config{Model: "m1", StartupDelay: 200 * time.Millisecond})
	c := client(t)
	get := func(path string) (int, []byte) {
		resp, err := c.Get(srv.BaseURL() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	if st, _ := get("/health"); st != http.StatusServiceUnavailable {
		t.Fatalf("health during startup: %d", st)
	}
	if st, _ := post(t, c, srv.BaseURL()+"/v1/completions", `{"prompt":[1],"max_tokens":1}`); st != http.StatusServiceUnavailable {
		t.Fatalf("completion during startup: %d", st)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for {
		if st, _ := get("/health"); st == 200 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("never healthy")
		case <-time.After(20 * time.Millisecond):
		}
	}
	st, b := get("/v1/models")
	var list struct {
		Object string `json:"object"`
		Data   []struct {
			ID     string `json:"id"`
			Object string `json:"object"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &list); err != nil || st != 200 || list.Object != "list" || len(list.Data) != 1 || list.Data[0].ID != "m1" {
		t.Fatalf("models %d %s", st, b)
	}
	if st, b := get("/version"); st != 200 || !json.Valid(b) {
		t.Errorf("version %d %s", st, b)
	}
	if d := srv.Describe(); len(d) != 2 || d["backend"] != "mock" || d["model"] != "m1" {
		t.Fatalf("Describe %v", d)
	}
}

// A client that goes away releases its KV blocks and leaves the running set.
func TestDisconnectReleasesBlocks(t *testing.T) {
	srv := Start(t, Config{SpeedupRatio: 0.5})
	c := client(t)
	ctx, cancel := context.WithCancel(t.Context())
	req, _ := http.NewRequestWithContext(ctx, "POST", srv.BaseURL()+"/v1/completions",
		strings.NewReader(`{"prompt":`+tokenList(200, 100)+`,"max_tokens":100000,"stream":true}`))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(resp.Body)
	if _, err := br.ReadString('\n'); err != nil { // first token
		t.Fatal(err)
	}
	if r := metric(t, c, srv, "vllm:num_requests_running"); r != 1 {
		t.Fatalf("running %v", r)
	}
	if u := metric(t, c, srv, "vllm:kv_cache_usage_perc"); u <= 0 {
		t.Fatalf("kv usage %v", u)
	}
	cancel()
	resp.Body.Close()
	deadline := time.Now().Add(10 * time.Second)
	for metric(t, c, srv, "vllm:num_requests_running") != 0 || metric(t, c, srv, "vllm:kv_cache_usage_perc") != 0 {
		if time.Now().After(deadline) {
			t.Fatal("blocks not released after disconnect")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestFaults(t *testing.T) {
	c := client(t)
	body := `{"prompt":[1,2,3],"max_tokens":6,"stream":true}`
	t.Run("error", func(t *testing.T) {
		srv := Start(t, Config{Faults: Faults{ErrorRate: 1}})
		if st, b := post(t, c, srv.BaseURL()+"/v1/completions", body); st != 500 || !strings.Contains(string(b), `"error"`) {
			t.Fatalf("%d %s", st, b)
		}
	})
	t.Run("disconnect", func(t *testing.T) {
		srv := Start(t, Config{SpeedupRatio: 100, Faults: Faults{DisconnectRate: 1}})
		resp, err := c.Post(srv.BaseURL()+"/v1/completions", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err == nil || strings.Contains(string(b), "[DONE]") || strings.Count(string(b), "data: ") != 3 {
			t.Fatalf("err %v, body %q", err, b)
		}
	})
	t.Run("malformed", func(t *testing.T) {
		srv := Start(t, Config{SpeedupRatio: 100, Faults: Faults{MalformedRate: 1}})
		ev := stream(t, c, srv.BaseURL()+"/v1/completions", body)
		bad := 0
		for _, e := range ev {
			if e != "[DONE]" && !json.Valid([]byte(e)) {
				bad++
			}
		}
		if bad != 1 || len(ev) != 8 {
			t.Fatalf("%d malformed of %q", bad, ev)
		}
	})
	t.Run("stall", func(t *testing.T) {
		srv := Start(t, Config{SpeedupRatio: 100, Faults: Faults{StallRate: 1, Stall: 150 * time.Millisecond}})
		start := time.Now()
		ev := stream(t, c, srv.BaseURL()+"/v1/completions", body)
		if len(ev) != 7 || time.Since(start) < 150*time.Millisecond {
			t.Fatalf("%v: %q", time.Since(start), ev)
		}
	})
}

// POST /reset_prefix_cache (vLLM's dev-mode endpoint) forgets cached prompt blocks: the same
// prompt sent after it is a miss again.
func TestResetPrefixCache(t *testing.T) {
	srv := Start(t, Config{BlockSize: 16, SpeedupRatio: 10})
	c := client(t)
	url := srv.BaseURL() + "/v1/completions"
	body := `{"model":"sim-llama-8b","prompt":` + tokenList(128, 100) + `,"max_tokens":2,"stream":true,"stream_options":{"include_usage":true}}`
	_, u1 := timedStream(t, c, url, body)
	_, u2 := timedStream(t, c, url, body)
	if code, b := post(t, c, srv.BaseURL()+"/reset_prefix_cache", ""); code != http.StatusOK {
		t.Fatalf("reset: %d %s", code, b)
	}
	_, u3 := timedStream(t, c, url, body)
	if u1.PromptTokensDetails.CachedTokens != 0 || u2.PromptTokensDetails.CachedTokens != 112 || u3.PromptTokensDetails.CachedTokens != 0 {
		t.Fatalf("cached tokens %d, %d, then after reset %d; want 0, 112, 0",
			u1.PromptTokensDetails.CachedTokens, u2.PromptTokensDetails.CachedTokens, u3.PromptTokensDetails.CachedTokens)
	}
}

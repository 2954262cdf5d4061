package perftest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/fixtures"
	"github.com/perfgate/perfgate/internal/fakeserver"
	"github.com/perfgate/perfgate/perftest/internal/api"
	"github.com/perfgate/perfgate/perftest/metric"
)

// requests is a workload of the given requests, numbered.
type requests []fixtures.Request

func (l requests) Name() string                 { return "requests" }
func (l requests) Fingerprint() (string, error) { return fixtures.Fingerprint("requests", l) }
func (l requests) Requests() iter.Seq2[fixtures.Request, error] {
	return func(yield func(fixtures.Request, error) bool) {
		for i, r := range l {
			r.Index = i
			if !yield(r, nil) {
				return
			}
		}
	}
}

// repeat is n copies of req.
func repeat(req fixtures.Request, n int) requests {
	out := make(requests, n)
	for i := range out {
		out[i] = req
	}
	return out
}

// standInCase runs a case of 8 requests of 40 tokens (24 of them reasoning, when the
// stand-in reasons) against a stand-in.
func standInCase(t *testing.T, cfg fakeserver.StandIn, a API, req fixtures.Request) *Result {
	t.Helper()
	cfg.First, cfg.ITL = 2*time.Millisecond, 200*time.Microsecond
	srv := fakeserver.StartStandIn(t, cfg)
	req.OutputTokens = 40
	res, err := Execute(t.Context(), Case{Target: Endpoint(srv.URL), API: a, Workload: repeat(req, 8), Load: Concurrency(2), Count: 2, Warmup: -1},
		ExecOptions{Logf: t.Logf})
	require.NoError(t, err)
	return res
}

// checkKinds checks every record of res: nothing malformed or failed; TTFT is the first
// token of any kind, TTFO the first one that is not reasoning; the reasoning tokens are
// the server's; no warning that chunks and usage disagree, and ITL per token.
func checkKinds(t *testing.T, res *Result, reasoning int, first byte) {
	t.Helper()
	for _, rep := range res.Reps {
		for _, r := range rep.Records {
			require.Equal(t, OK, r.Outcome, r.Error)
			require.Len(t, r.Tokens, 40, "every kind of token is a token: 24 of reasoning, 16 of output")
			assert.Equal(t, r.Tokens[0], r.FirstToken, "TTFT is the first token, reasoning or not")
			assert.Equal(t, reasoning, r.Reasoning())
			assert.Equal(t, reasoning, r.StreamedReasoning)
			assert.Equal(t, first, r.KindAt(0))
			if reasoning < 40 {
				assert.Equal(t, r.Tokens[reasoning], r.FirstOutput, "TTFO is the first token after the reasoning")
				assert.NotEqual(t, byte(kindReasoning), r.KindAt(reasoning))
			} else {
				assert.Zero(t, r.FirstOutput, "a stream of reasoning alone has no first output token")
			}
			assert.Equal(t, 40, r.OutputTokens)
			assert.Equal(t, 40, r.Generated())
		}
		assert.Zero(t, rep.TokenMismatch)
		assert.Zero(t, rep.Diag.PerChunkITL)
	}
	assert.Empty(t, res.Problems)
	assert.NotContains(t, res.Summary(), "WARNING")
	assert.Equal(t, "per-token", res.ConfigValue(metric.KeyITL))
	assert.Equal(t, "ok", res.ConfigValue(metric.KeyHealth))
}

// TestReasoningStandIns: against vLLM (delta.reasoning), SGLang (delta.reasoning_content,
// reasoning_tokens in usage) and llama.cpp (reasoning_content, usage on the last choice)
// stand-ins, each token counts with its kind (issue 20).
func TestReasoningStandIns(t *testing.T) {
	for _, cfg := range []fakeserver.StandIn{
		{Dialect: fakeserver.VLLM, Reasoning: 24},
		{Dialect: fakeserver.VLLM, Reasoning: 24, ReasoningDetails: true},
		{Dialect: fakeserver.SGLang, Reasoning: 24},
		{Dialect: fakeserver.LlamaCpp, Reasoning: 24},
	} {
		t.Run(string(cfg.Dialect), func(t *testing.T) {
			res := standInCase(t, cfg, Chat, fixtures.Request{Text: "think", Reasoning: "on"})
			checkKinds(t, res, 24, kindReasoning)
			r := res.Reps[0].Records[0]
			assert.Equal(t, "r24a16", r.Kinds)
			assert.Equal(t, cfg.Dialect == fakeserver.SGLang || cfg.ReasoningDetails, r.ReportsReasoning)
			for _, unit := range []string{metric.TTFTP50, metric.TTFOP50, metric.ITLP50, metric.TPOTP50} {
				assert.Len(t, res.Value(unit), 2, unit)
			}
			ttft, ttfo := res.Value(metric.TTFTP50), res.Value(metric.TTFOP50)
			assert.Less(t, ttft[0], ttfo[0], "the first output token comes after 24 tokens of reasoning")
		})
	}
}

// TestReasoningOnlyIsNotMalformed: a model that only reasons (llama.cpp with a reasoning
// template and a short budget) streams tokens: not a malformed stream.
func TestReasoningOnlyIsNotMalformed(t *testing.T) {
	res := standInCase(t, fakeserver.StandIn{Dialect: fakeserver.LlamaCpp, Reasoning: 1000}, Chat, fixtures.Request{Text: "think"})
	checkKinds(t, res, 40, kindReasoning)
	assert.Equal(t, "r40", res.Reps[0].Records[0].Kinds)
	assert.Empty(t, res.Value(metric.TTFOP50), "no first output token, no TTFO")
}

// TestToolCallStandIn: a stream of tool-call arguments alone is a stream of tokens; the
// first delta, which names the function, carries none.
func TestToolCallStandIn(t *testing.T) {
	tool := fixtures.Tool{Name: "get_weather", Parameters: json.RawMessage(`{"type":"object"}`)}
	res := standInCase(t, fakeserver.StandIn{Dialect: fakeserver.VLLM}, Chat, fixtures.Request{Text: "weather?", Tools: []fixtures.Tool{tool}, ToolChoice: "required"})
	checkKinds(t, res, 0, kindTool)
	r := res.Reps[0].Records[0]
	assert.Equal(t, "t40", r.Kinds)
	assert.Equal(t, r.FirstToken, r.FirstOutput, "a tool call is output")
	assert.Empty(t, res.Value(metric.TTFOP50), "without reasoning TTFO is TTFT, and not written")

	res = standInCase(t, fakeserver.StandIn{Dialect: fakeserver.SGLang, Reasoning: 24}, Chat,
		fixtures.Request{Text: "weather?", Tools: []fixtures.Tool{tool}, ToolChoice: "required", Reasoning: "on"})
	checkKinds(t, res, 24, kindReasoning)
	assert.Equal(t, "r24t16", res.Reps[0].Records[0].Kinds)
}

// TestResponsesStandIn: the Responses API's events, as vLLM streams them.
func TestResponsesStandIn(t *testing.T) {
	res := standInCase(t, fakeserver.StandIn{Reasoning: 24}, Responses, fixtures.Request{Text: "think", Reasoning: "high"})
	checkKinds(t, res, 24, kindReasoning)
	assert.True(t, res.Reps[0].Records[0].ReportsReasoning)
	assert.Len(t, res.Value(metric.TTFOP50), 2)
}

// TestPoolingStandIns: embeddings and rerank are measured by their latency, inputs/s and
// prompt-tok/s; nothing of tokens.
func TestPoolingStandIns(t *testing.T) {
	for _, tc := range []struct {
		api API
		req fixtures.Request
	}{
		{Embeddings, fixtures.Request{Inputs: []string{"a", "b", "c", "d"}}},
		{Rerank, fixtures.Request{Query: "q", Documents: []string{"a", "b", "c", "d"}}},
	} {
		srv := fakeserver.StartStandIn(t, fakeserver.StandIn{First: time.Millisecond})
		res, err := Execute(t.Context(), Case{Target: Endpoint(srv.URL), API: tc.api, Workload: repeat(tc.req, 6), Load: Concurrency(2), Count: 2, Warmup: -1},
			ExecOptions{Logf: t.Logf})
		require.NoError(t, err)
		for _, rep := range res.Reps {
			for _, r := range rep.Records {
				require.Equal(t, OK, r.Outcome, r.Error)
				assert.Equal(t, 4, r.Results)
				assert.Positive(t, r.InputTokens)
			}
			var units []string
			for _, m := range rep.Metrics {
				units = append(units, m.Unit)
			}
			assert.Subset(t, units, []string{metric.E2EP50, metric.E2EP99, metric.RequestRate, metric.InputRate, metric.PromptTokenRate})
			for _, u := range []string{metric.TTFTP50, metric.ITLP50, metric.TPOTP50, metric.TokenRate} {
				assert.NotContains(t, units, u)
			}
		}
		assert.Empty(t, res.Problems)
	}
}

// TestPoolingAnswerShort: an answer with fewer results than inputs is malformed.
func TestPoolingAnswerShort(t *testing.T) {
	var rec Record
	rec.WantResults = 4
	rec.finish(time.Millisecond, apiDone(2), 7)
	assert.Equal(t, Malformed, rec.Outcome)
	assert.Contains(t, rec.Error, "request 7: asked for 4 results")
}

// TestKindsRunLength: kinds are kept as runs, built only when the kind changes.
func TestKindsRunLength(t *testing.T) {
	var r Record
	for _, k := range []byte("rrrttaaaar") {
		r.Tokens = append(r.Tokens, time.Duration(len(r.Tokens)+1))
		r.noteKind(k)
	}
	r.closeKinds()
	assert.Equal(t, "r3t2a4r1", r.Kinds)
	var got []byte
	for i := range r.Tokens {
		got = append(got, r.KindAt(i))
	}
	assert.Equal(t, "rrrttaaaar", string(got))
	assert.Zero(t, r.KindAt(10))

	var plain Record
	for range 3 {
		plain.Tokens = append(plain.Tokens, 1)
		plain.noteKind(kindAnswer)
	}
	plain.closeKinds()
	assert.Empty(t, plain.Kinds, "answer text alone is the default, written as nothing")
	assert.Equal(t, byte(kindAnswer), plain.KindAt(2))

	b, err := json.Marshal(&r)
	require.NoError(t, err)
	var back Record
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, r.Kinds, back.Kinds)
	assert.True(t, bytes.Contains(b, []byte(`"token_kinds":"r3t2a4r1"`)))
	assert.True(t, slices.Equal(r.Tokens, back.Tokens))
}

// apiDone is a pooling answer's Done event holding n results.
func apiDone(n int) api.Event { return api.Event{Kind: api.Done, Results: n} }

// TestImpossibleUsageIsRefused: usage of 1e30 tokens, or a negative cached count, is
// refused with a warning and never recorded (issue 23).
func TestImpossibleUsageIsRefused(t *testing.T) {
	for _, usage := range []string{`{"prompt_tokens":8,"completion_tokens":1e30}`, `{"prompt_tokens":8,"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":-5}}`} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprintf(w, "data: {\"choices\":[{\"text\":\"a\"}]}\n\ndata: {\"choices\":[{\"text\":\"b\"}]}\n\ndata: {\"choices\":[],\"usage\":%s}\n\ndata: [DONE]\n\n", usage)
		}))
		res, err := Execute(t.Context(), Case{Target: Endpoint(srv.URL), Model: "m", Workload: repeat(fixtures.Request{Tokens: []int{1}, OutputTokens: 2}, 3),
			Load: Concurrency(1), Count: 1, Warmup: -1}, ExecOptions{})
		srv.Close()
		require.NoError(t, err)
		r := res.Reps[0].Records[0]
		assert.Equal(t, OK, r.Outcome, "the stream itself was fine")
		assert.Contains(t, r.UsageError, "impossible usage")
		assert.Zero(t, r.OutputTokens+r.InputTokens+r.CachedTokens, "nothing of the usage is recorded")
		assert.Equal(t, 2, r.Generated(), "the tokens are the chunks received")
		assert.Equal(t, 3, res.Reps[0].Diag.UsageRefused)
		assert.Contains(t, res.Summary(), "WARNING: 3 requests reported a usage that cannot be true")
	}
}

// spellingTarget is an engine's target that spells reasoning its own way and serves no
// rerank route.
type spellingTarget struct{ url string }

func (d spellingTarget) BaseURL() string { return d.url }

func (spellingTarget) RequestFields(string) map[string]any { return nil }

func (spellingTarget) CheckRequest(string, []string) error { return nil }

func (d spellingTarget) ReasoningFields(api, level string) map[string]any {
	return map[string]any{"chat_template_kwargs": map[string]any{"enable_thinking": level != "off"}, "api": api}
}
func (d spellingTarget) APIPath(api string) (string, error) {
	switch api {
	case "rerank":
		return "", errors.New("the server serves no rerank route")
	case "embeddings":
		return "/v2/embed", nil
	}
	return "", nil
}

func TestDialect(t *testing.T) {
	var bodies [][]byte
	var paths []string
	var mu sync.Mutex
	srv := fakeserver.StartStandIn(t, fakeserver.StandIn{OnRequest: func(path string, b []byte) {
		mu.Lock()
		defer mu.Unlock()
		bodies, paths = append(bodies, b), append(paths, path)
	}})
	target := spellingTarget{srv.URL}
	_, err := Execute(t.Context(), Case{Target: target, API: Chat, Workload: repeat(fixtures.Request{Text: "x", OutputTokens: 2, Reasoning: "off"}, 1),
		Load: Concurrency(1), Count: 1, Warmup: -1}, ExecOptions{})
	require.NoError(t, err)
	require.Len(t, bodies, 1)
	var body map[string]any
	require.NoError(t, json.Unmarshal(bodies[0], &body))
	assert.Equal(t, map[string]any{"enable_thinking": false}, body["chat_template_kwargs"])
	assert.Equal(t, "chat", body["api"])

	err = Case{Target: target, API: Rerank, Workload: repeat(fixtures.Request{Query: "q", Documents: []string{"d"}}, 1), Load: Concurrency(1)}.Validate()
	assert.ErrorContains(t, err, "API rerank: the server serves no rerank route")
	c := Case{Target: target, API: Embeddings, Workload: repeat(fixtures.Request{Inputs: []string{"a"}}, 1), Load: Concurrency(1), Count: 1, Warmup: -1}
	require.NoError(t, c.Validate())
	_, _ = Execute(t.Context(), c, ExecOptions{}) // the stand-in has no /v2/embed: a failed request
	assert.Contains(t, paths, "/v1/chat/completions")
	assert.NotContains(t, paths, "/v1/embeddings", "the engine's path, not perftest's")
}

// TestSpecMetrics: acceptance and accepted tokens per draft from vLLM's counters, or from
// SGLang's gauges sampled during the repetition; none from a server that does not
// speculate.
func TestSpecMetrics(t *testing.T) {
	figures := func(w *serverWindow) map[string]float64 {
		got := map[string]float64{}
		for _, m := range w.metrics() {
			got[m.Unit] = m.Value
		}
		return got
	}
	counters := &serverWindow{
		before: map[string]float64{keySpecDrafts: 100, keySpecDraftTokens: 300, keySpecAcceptedTokens: 200},
		after:  map[string]float64{keySpecDrafts: 200, keySpecDraftTokens: 600, keySpecAcceptedTokens: 410},
	}
	got := figures(counters)
	assert.InDelta(t, 0.7, got[metric.ServerSpecAcceptance], 1e-9)
	assert.InDelta(t, 2.1, got[metric.ServerSpecPerDraft], 1e-9)

	gauges := &serverWindow{peak: map[string]float64{}, sum: map[string]float64{}, n: map[string]float64{}}
	for _, v := range []float64{2.2, 2.6} {
		gauges.sample(map[string]float64{keySpecAcceptLength: v, keySpecAcceptance: v / 4})
	}
	got = figures(gauges)
	assert.InDelta(t, 0.6, got[metric.ServerSpecAcceptance], 1e-9)
	assert.InDelta(t, 1.4, got[metric.ServerSpecPerDraft], 1e-9)

	off := &serverWindow{peak: map[string]float64{}, sum: map[string]float64{}, n: map[string]float64{},
		before: map[string]float64{keySpecDraftTokens: 5, keySpecAcceptedTokens: 3}, after: map[string]float64{keySpecDraftTokens: 5, keySpecAcceptedTokens: 3}}
	off.sample(map[string]float64{keySpecAcceptLength: 0, keySpecAcceptance: 0})
	assert.Empty(t, figures(off), "a server that did not draft has no speculative figures")
}

// TestSpecFromStandIn reads vLLM's counters from a stand-in through the scraper.
func TestSpecFromStandIn(t *testing.T) {
	srv := fakeserver.StartStandIn(t, fakeserver.StandIn{Spec: &fakeserver.SpecCounters{Drafts: 10, DraftTokens: 30, Accepted: 21}})
	names := map[string]string{keySpecDrafts: "vllm:spec_decode_num_drafts_total", keySpecDraftTokens: "vllm:spec_decode_num_draft_tokens_total",
		keySpecAcceptedTokens: "vllm:spec_decode_num_accepted_tokens_total"}
	sc := &scraper{url: srv.URL + "/metrics", names: names, client: srv.Client()}
	stop := sc.watch(t.Context(), time.Hour)
	res, err := Execute(t.Context(), Case{Target: Endpoint(srv.URL), API: Chat, Workload: repeat(fixtures.Request{Text: "x", OutputTokens: 3}, 4),
		Load: Concurrency(1), Count: 1, Warmup: -1}, ExecOptions{})
	require.NoError(t, err)
	require.Len(t, res.Reps[0].Records, 4)
	w, err := stop()
	require.NoError(t, err)
	got := map[string]float64{}
	for _, m := range w.metrics() {
		got[m.Unit] = m.Value
	}
	assert.InDelta(t, 0.7, got[metric.ServerSpecAcceptance], 1e-9)
	assert.InDelta(t, 2.1, got[metric.ServerSpecPerDraft], 1e-9)
}

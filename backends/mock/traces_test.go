package mock

import (
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// collector is an OTLP/HTTP endpoint that keeps what it is sent.
type collector struct {
	mu    sync.Mutex
	spans []*tracepb.Span
	ct    []string
	got   chan struct{}
}

func startCollector(t *testing.T) (*collector, string) {
	c := &collector{got: make(chan struct{}, 100)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var td tracepb.TracesData
		if r.URL.Path != "/v1/traces" || proto.Unmarshal(b, &td) != nil {
			http.Error(w, "bad export", http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		c.ct = append(c.ct, r.Header.Get("Content-Type"))
		for _, rs := range td.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				c.spans = append(c.spans, ss.Spans...)
			}
		}
		c.mu.Unlock()
		c.got <- struct{}{}
	}))
	t.Cleanup(srv.Close)
	return c, srv.URL + "/v1/traces"
}

const traceparentHeader = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

// TestSpans: a request that came with a traceparent gets vLLM's llm_request span,
// continuing its trace, with the latencies of the simulator's truth; one that came
// without gets a trace of its own.
func TestSpans(t *testing.T) {
	col, url := startCollector(t)
	srv := Start(t, Config{SpeedupRatio: 100, OTLPTracesEndpoint: url, KeepTimings: true})
	assert.Equal(t, strings.TrimPrefix(strings.TrimSuffix(url, "/v1/traces"), "http://"), srv.MetricNames()["otlp-traces"])
	c := client(t)
	body := `{"model":"sim-llama-8b","prompt":[1,2,3,4,5,6,7,8,9],"max_tokens":4,"ignore_eos":true,"stream":true}`
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.BaseURL()+"/v1/completions", strings.NewReader(body))
	req.Header.Set("Traceparent", traceparentHeader)
	resp, err := c.Do(req)
	require.NoError(t, err)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	stream(t, c, srv.BaseURL()+"/v1/completions", body)
	var spans []*tracepb.Span
	for deadline := time.After(time.Minute); len(spans) < 2; {
		select {
		case <-col.got:
		case <-deadline:
			t.Fatalf("spans exported: %d, want 2", len(spans))
		}
		col.mu.Lock()
		spans = append([]*tracepb.Span(nil), col.spans...)
		col.mu.Unlock()
	}
	assert.Equal(t, "application/x-protobuf", col.ct[0])
	truth := srv.Timings()
	require.Len(t, truth, 2)
	sp := spans[0]
	assert.Equal(t, "0af7651916cd43dd8448eb211c80319c", hex.EncodeToString(sp.TraceId), "the client's trace continues")
	assert.Equal(t, "b7ad6b7169203331", hex.EncodeToString(sp.ParentSpanId))
	assert.Equal(t, "llm_request", sp.Name)
	assert.Equal(t, tracepb.Span_SPAN_KIND_SERVER, sp.Kind)
	tm := truth[0]
	assert.Equal(t, "0af7651916cd43dd8448eb211c80319c", tm.TraceID)
	assert.Equal(t, uint64(tm.Arrival.UnixNano()), sp.StartTimeUnixNano)
	assert.Equal(t, uint64(tm.Finished.UnixNano()), sp.EndTimeUnixNano)
	attrs := map[string]any{}
	for _, kv := range sp.Attributes {
		v := kv.Value
		switch {
		case v.GetStringValue() != "":
			attrs[kv.Key] = v.GetStringValue()
		case strings.HasPrefix(kv.Key, "gen_ai.latency."):
			attrs[kv.Key] = v.GetDoubleValue()
		default:
			attrs[kv.Key] = v.GetIntValue()
		}
	}
	sec := func(d time.Duration) float64 { return d.Seconds() }
	assert.Equal(t, map[string]any{
		"gen_ai.response.model": "sim-llama-8b", "gen_ai.request.id": "1", "gen_ai.request.max_tokens": int64(4), "gen_ai.request.n": int64(1),
		"gen_ai.usage.prompt_tokens": int64(9), "gen_ai.usage.completion_tokens": int64(4),
		"gen_ai.latency.time_to_first_token": sec(tm.FirstToken.Sub(tm.Arrival)), "gen_ai.latency.e2e": sec(tm.Finished.Sub(tm.Arrival)),
		"gen_ai.latency.time_in_queue": sec(tm.Queue()), "gen_ai.latency.time_in_model_prefill": sec(tm.Prefill()),
		"gen_ai.latency.time_in_model_decode": sec(tm.Decode()), "gen_ai.latency.time_in_model_inference": sec(tm.LastToken.Sub(tm.Scheduled)),
	}, attrs)
	assert.Empty(t, truth[1].TraceID)
	assert.NotEqual(t, sp.TraceId, spans[1].TraceId, "a request without a traceparent starts its own trace")
	assert.Empty(t, spans[1].ParentSpanId)
}

// TestTimingsDialect: llama.cpp's timings sit beside the usage on the last chunk, or in a
// last chunk of their own when the client asked for no usage.
func TestTimingsDialect(t *testing.T) {
	srv := Start(t, Config{SpeedupRatio: 100, KeepTimings: true, Dialect: Dialect{Timings: true, UsageWithLastChoice: true}})
	c := client(t)
	ev := stream(t, c, srv.BaseURL()+"/v1/completions",
		`{"model":"sim-llama-8b","prompt":[1,2,3,4,5,6,7,8,9],"max_tokens":3,"ignore_eos":true,"stream":true,"stream_options":{"include_usage":true}}`)
	require.Len(t, ev, 5)
	var last struct {
		Usage   map[string]any     `json:"usage"`
		Timings map[string]float64 `json:"timings"`
	}
	require.NoError(t, json.Unmarshal([]byte(ev[3]), &last), ev[3])
	require.NotNil(t, last.Usage, "timings beside the usage")
	tm := srv.Timings()[0]
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	pm, dm := ms(tm.Prefill()), ms(tm.Decode())
	assert.Equal(t, map[string]float64{"cache_n": 0, "prompt_n": 9, "prompt_ms": pm, "prompt_per_token_ms": pm / 9, "prompt_per_second": 9e3 / pm,
		"predicted_n": 3, "predicted_ms": dm, "predicted_per_token_ms": dm / 3, "predicted_per_second": 3e3 / dm}, last.Timings)
	assert.True(t, strings.HasPrefix(ev[3][strings.Index(ev[3], `"timings"`):], `"timings":{"cache_n":0,"prompt_n":9,`), "llama.cpp's order")

	ev = stream(t, c, srv.BaseURL()+"/v1/completions", `{"model":"sim-llama-8b","prompt":[1,2,3],"max_tokens":2,"stream":true}`)
	require.Len(t, ev, 4)
	assert.Contains(t, ev[2], `"text":"","logprobs":null,"finish_reason":"length","stop_reason":null}],"timings":{"cache_n":0,"prompt_n":3,`)
}

// TestPhaseHistograms: vLLM's prefill, decode and inference histograms count every
// finished request.
func TestPhaseHistograms(t *testing.T) {
	srv := Start(t, Config{SpeedupRatio: 100})
	c := client(t)
	stream(t, c, srv.BaseURL()+"/v1/completions", `{"model":"sim-llama-8b","prompt":[1,2,3],"max_tokens":2,"stream":true}`)
	resp, err := c.Get(srv.BaseURL() + "/metrics")
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, s := range []string{"vllm:request_prefill_time_seconds_count", "vllm:request_decode_time_seconds_count", "vllm:request_inference_time_seconds_count"} {
		assert.Contains(t, string(b), s+`{model_name="sim-llama-8b"} 1`)
	}
	for _, k := range []string{"prefill-time", "decode-time", "inference-time"} {
		assert.Contains(t, srv.MetricNames(), k)
	}
}

package fakeserver

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TimedDialect is an engine whose own account of each request's phases a Timed stand-in
// gives, as its source writes it.
type TimedDialect string

// Timed dialects.
const (
	// LlamaCppTimings is llama.cpp's llama-server (ggml-org/llama.cpp tools/server at
	// 82bb485, server-task.cpp): completions chunks without usage, then a last chunk with
	// an empty text, the finish reason, the usage and "timings" (result_timings::to_json:
	// cache_n, prompt_n, prompt_ms, prompt_per_token_ms, prompt_per_second, predicted_n,
	// predicted_ms, predicted_per_token_ms, predicted_per_second), prompt_ms from the
	// start of prompt processing to the first token, predicted_ms from it to the last.
	// GET /slots and POST /slots/{id}?action=erase as the llamacpp module calls them.
	LlamaCppTimings TimedDialect = "llamacpp-timings"
	// TRTLLMPerfMetrics is TensorRT-LLM's trtllm-serve with return_perf_metrics and
	// perf_metrics_max_requests (NVIDIA/TensorRT-LLM tensorrt_llm/serve on main,
	// openai_server.py and postprocess_handlers.py): chunks whose "id" is
	// "cmpl-<request id>", usage in a last "choices": [] chunk, and GET /perf_metrics
	// serving, drained as read, each finished request's {request_id, perf_metrics:
	// {first_iter, last_iter, timing_metrics: {server_arrival_time, arrival_time,
	// first_scheduled_time, first_token_time, server_first_token_time, last_token_time},
	// kv_cache_metrics: {num_total_allocated_blocks, num_new_allocated_blocks,
	// num_reused_blocks, num_missed_blocks}}}, times in seconds on its steady clock.
	TRTLLMPerfMetrics TimedDialect = "trtllm-perf-metrics"
)

// Timed says how a Timed stand-in serves /v1/completions: Slots requests at once (the
// others queue), each first token Prefill after its scheduling, then a token every ITL;
// every prompt has Cached tokens found in the cache.
type Timed struct {
	Dialect      TimedDialect
	Slots        int // 0: 1
	Prefill, ITL time.Duration
	Cached       int
	// MetricsLag records a finished request's truth and perf metrics this long after its
	// stream ended, as a server that books a request after answering it: a client that
	// reads /perf_metrics at once misses it.
	MetricsLag time.Duration
}

// TimedTruth is what a Timed stand-in measured of one request on its own clock: the
// phases it reports, and the counts.
type TimedTruth struct {
	Queue, Prefill, Decode          time.Duration
	Prompt, Cached, Output          int
	arrival, scheduled, first, last time.Time
}

// TimedServer is a started Timed stand-in.
type TimedServer struct {
	*httptest.Server
	cfg   Timed
	slot  chan struct{}
	n     atomic.Int64
	start time.Time // origin of the steady clock

	mu      sync.Mutex
	truth   map[string]TimedTruth // by stream id
	pending []string              // perf metrics not read yet (TensorRT-LLM)
}

// StartTimed starts a Timed stand-in on loopback for the test.
func StartTimed(tb testing.TB, cfg Timed) *TimedServer {
	tb.Helper()
	s := &TimedServer{cfg: cfg, slot: make(chan struct{}, max(cfg.Slots, 1)), truth: map[string]TimedTruth{}, start: time.Now()}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/models", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"object":"list","data":[{"id":"fake-model","object":"model","meta":{"n_vocab":32000}}]}`)
	})
	mux.HandleFunc("POST /v1/completions", s.complete)
	mux.HandleFunc("GET /perf_metrics", s.perfMetrics)
	mux.HandleFunc("GET /slots", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `[{"id":0}]`) })
	mux.HandleFunc("POST /slots/{id}", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"id_slot":0,"n_erased":0}`) })
	s.Server = httptest.NewServer(mux)
	tb.Cleanup(s.Close)
	return s
}

// Truth is what the stand-in measured of every request so far, by the id its stream gave
// it.
func (s *TimedServer) Truth() map[string]TimedTruth {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]TimedTruth, len(s.truth))
	for k, v := range s.truth {
		out[k] = v
	}
	return out
}

func (s *TimedServer) complete(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Prompt    json.RawMessage `json:"prompt"`
		MaxTokens int             `json:"max_tokens"`
	}
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &req); err != nil {
		http.Error(w, `{"error":{"message":"bad json"}}`, http.StatusBadRequest)
		return
	}
	var ids []int
	_ = json.Unmarshal(req.Prompt, &ids)
	t := TimedTruth{Prompt: max(len(ids), 1), Output: max(req.MaxTokens, 1), arrival: time.Now()}
	t.Cached = min(s.cfg.Cached, t.Prompt-1)
	select {
	case s.slot <- struct{}{}:
	case <-r.Context().Done():
		return
	}
	defer func() { <-s.slot }()
	t.scheduled = time.Now()
	id := "cmpl-" + strconv.FormatInt(s.n.Add(1), 10)
	w.Header().Set("Content-Type", "text/event-stream")
	fl := w.(http.Flusher)
	send := func(data string) {
		fmt.Fprintf(w, "data: %s\n\n", data)
		fl.Flush()
	}
	time.Sleep(s.cfg.Prefill)
	for i := range t.Output {
		if i == 0 {
			t.first = time.Now()
		} else {
			time.Sleep(s.cfg.ITL)
		}
		t.last = time.Now()
		send(s.tokenChunk(id))
	}
	t.Queue, t.Prefill, t.Decode = t.scheduled.Sub(t.arrival), t.first.Sub(t.scheduled), t.last.Sub(t.first)
	send(s.lastChunk(id, t))
	send("[DONE]")
	if s.cfg.MetricsLag > 0 {
		time.Sleep(s.cfg.MetricsLag) // the stream has ended: the client no longer waits on it
	}
	s.finished(id, t)
}

// tokenChunk is a chunk of one token.
func (s *TimedServer) tokenChunk(id string) string {
	if s.cfg.Dialect == TRTLLMPerfMetrics {
		return `{"id":"` + id + `","object":"text_completion","created":1,"model":"fake-model","choices":[{"index":0,"text":" a","token_ids":null,"logprobs":null,"finish_reason":null,"stop_reason":null}]}`
	}
	return `{"choices":[{"text":" a","index":0,"logprobs":null,"finish_reason":null}],"created":1,"model":"fake-model","system_fingerprint":"b6000-82bb485","object":"text_completion","id":"` + id + `"}`
}

// lastChunk is the chunk after the last token: llama.cpp's final result with its timings,
// or TensorRT-LLM's usage chunk.
func (s *TimedServer) lastChunk(id string, t TimedTruth) string {
	usage := fmt.Sprintf(`{"completion_tokens":%d,"prompt_tokens":%d,"total_tokens":%d,"prompt_tokens_details":{"cached_tokens":%d}}`, t.Output, t.Prompt, t.Prompt+t.Output, t.Cached)
	if s.cfg.Dialect == TRTLLMPerfMetrics {
		return `{"id":"` + id + `","object":"text_completion","created":1,"model":"fake-model","choices":[],"usage":` + usage + `}`
	}
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	promptN, promptMS, predictedMS := t.Prompt-t.Cached, ms(t.Prefill), ms(t.Decode)
	timings := fmt.Sprintf(`{"cache_n":%d,"prompt_n":%d,"prompt_ms":%g,"prompt_per_token_ms":%g,"prompt_per_second":%g,`+
		`"predicted_n":%d,"predicted_ms":%g,"predicted_per_token_ms":%g,"predicted_per_second":%g}`,
		t.Cached, promptN, promptMS, promptMS/float64(promptN), 1e3*float64(promptN)/promptMS,
		t.Output, predictedMS, predictedMS/float64(t.Output), 1e3*float64(t.Output)/max(predictedMS, 1e-9))
	return `{"choices":[{"text":"","index":0,"logprobs":null,"finish_reason":"length"}],"created":1,"model":"fake-model","system_fingerprint":"b6000-82bb485",` +
		`"object":"text_completion","usage":` + usage + `,"id":"` + id + `","timings":` + timings + `}`
}

// finished keeps a request's truth and, for TensorRT-LLM, its perf metrics.
func (s *TimedServer) finished(id string, t TimedTruth) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.truth[id] = t
	if s.cfg.Dialect != TRTLLMPerfMetrics {
		return
	}
	steady := func(at time.Time) float64 { return 1000 + at.Sub(s.start).Seconds() }
	blocks := (t.Prompt + t.Output + 31) / 32
	s.pending = append(s.pending, fmt.Sprintf(`{"request_id":%s,"perf_metrics":{"first_iter":3,"last_iter":%d,`+
		`"timing_metrics":{"server_arrival_time":%v,"arrival_time":%v,"first_scheduled_time":%v,"first_token_time":%v,"server_first_token_time":%v,"last_token_time":%v},`+
		`"kv_cache_metrics":{"num_total_allocated_blocks":%d,"num_new_allocated_blocks":%d,"num_reused_blocks":%d,"num_missed_blocks":%d}}}`,
		strings.TrimPrefix(id, "cmpl-"), 3+t.Output, steady(t.arrival), steady(t.arrival), steady(t.scheduled), steady(t.first), steady(t.first), steady(t.last),
		blocks, blocks-t.Cached/32, t.Cached/32, blocks-t.Cached/32))
}

// perfMetrics serves TensorRT-LLM's /perf_metrics, drained as read.
func (s *TimedServer) perfMetrics(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Dialect != TRTLLMPerfMetrics {
		http.NotFound(w, r)
		return
	}
	s.mu.Lock()
	items := s.pending
	s.pending = nil
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprint(w, "["+strings.Join(items, ",")+"]")
}

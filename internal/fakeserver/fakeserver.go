// Package fakeserver is an OpenAI-compatible streaming server for perfgate's tests that
// behaves the way servers perfgate did not write were seen to behave: llama.cpp's
// llama-server closing a kept-alive connection after a stream and sending errors as
// "error:" lines, llm-d-inference-sim ignoring ignore_eos, servers listing other models or
// reporting their vocabulary. Each behaviour is a field of Config; the zero Config is a
// well-behaved server.
package fakeserver

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Config says how the server misbehaves.
type Config struct {
	// Models are the ids /v1/models lists (default: "fake-model"). A request for another
	// model gets 404.
	Models []string
	// Vocab, when set, is reported as meta.n_vocab beside each model in /v1/models, as
	// llama.cpp does; a prompt holding a token id at or above it gets HTTP 400.
	Vocab int
	// ITL is the time between tokens (default 100µs).
	ITL time.Duration
	// CloseAfterStream makes every connection serve one streamed response that advertises
	// Keep-Alive, then close when the client sends its next request on it, before
	// answering (llama.cpp closes after each stream; a client's pool reuses the dead
	// connection).
	CloseAfterStream bool
	// Generate, when set, says how many tokens request n (from 1) generates whatever it
	// asked for (llm-d-inference-sim ignores ignore_eos and stops early).
	Generate func(n int64, asked int) int
	// StreamError, when set, is sent after ErrorAfter tokens as an SSE "error:" line, then
	// "data: [DONE]" (llama.cpp's in-stream errors).
	StreamError string
	ErrorAfter  int
	// Fault, when set, is one of the hostile behaviours of Faults.
	Fault Fault
	// Sleep, when set, makes the server empty its cache the way llm-d-inference-sim does:
	// no POST /reset_prefix_cache (404), POST /sleep, POST /wake_up and GET /is_sleeping.
	Sleep Sleep
	// OnRequest, when set, is called with the path and body of every completion request
	// before it is answered, from the request's goroutine.
	OnRequest func(path string, body []byte)
}

// Sleep is how a server without /reset_prefix_cache answers POST /sleep
// (llm-d-inference-sim v0.10.2, run on 2026-12-02: /sleep answers 200 whether it slept or
// not; /is_sleeping tells).
type Sleep string

// Sleep modes.
const (
	// SleepHonoured sleeps, dropping the cache, until POST /wake_up (llm-d-inference-sim
	// run with --enable-sleep-mode and VLLM_SERVER_DEV_MODE=1).
	SleepHonoured Sleep = "honoured"
	// SleepIgnored answers POST /sleep with 200 and stays awake (the same server without
	// them).
	SleepIgnored Sleep = "ignored"
)

// Fault names a hostile behaviour, each one seen to break a client (perfgate's issue 16):
// servers that hang, stream forever, lie, redirect, or frame their events in ways the SSE
// specification allows and naive readers do not.
type Fault string

// Faults.
const (
	ModelsHang     Fault = "models-hang"      // /v1/models accepts and never answers
	ModelsForever  Fault = "models-forever"   // /v1/models streams bytes without end
	ModelsEmptyID  Fault = "models-empty-id"  // /v1/models lists a model whose id is ""
	ResetHang      Fault = "reset-hang"       // POST /reset_prefix_cache never answers
	StreamForever  Fault = "stream-forever"   // a completion streams tokens without end
	Stall          Fault = "stall"            // a completion sends 3 tokens, then nothing, the connection open
	Redirect       Fault = "redirect"         // 302 to another host
	ErrorNull      Fault = "error-null"       // every chunk carries "error": null
	BOM            Fault = "bom"              // a byte-order mark before the first event
	CROnly         Fault = "cr"               // lines end in CR only
	MultiLine      Fault = "multi-line"       // each event's JSON split over several data: lines
	DoneSpace      Fault = "done-space"       // "data: [DONE] " with a trailing space
	GzipBody       Fault = "gzip"             // a gzip-encoded JSON body instead of a stream
	HTMLBody       Fault = "html"             // a 200 text/html page (a proxy's login page)
	HugeLine       Fault = "huge-line"        // one event line of 2 MiB
	UsageInflated  Fault = "usage-inflated"   // usage claims 100,000 tokens for the chunks sent
	UsageDeflated  Fault = "usage-deflated"   // usage claims 1 token
	MetricsHuge    Fault = "metrics-huge"     // /metrics streams 64 MiB of samples
	MetricsNaN     Fault = "metrics-nan"      // /metrics holds NaN and +Inf samples
	HTTP500        Fault = "http-500"         // 500 with a JSON error message
	CloseAfterHead Fault = "close-after-head" // 200 headers, then the connection closes
	ErrorChunk     Fault = "error-chunk"      // a data: {"error": {...}} chunk after 2 tokens
	ErrorHuge      Fault = "error-huge"       // an in-stream error message of 1 MiB
)

// Server is a started fake server.
type Server struct {
	*httptest.Server
	cfg   Config
	n     atomic.Int64
	conns atomic.Int64 // connections accepted
	// asleep and sleeps: whether the server sleeps, and how often it slept (Sleep).
	asleep atomic.Bool
	sleeps atomic.Int64
	wg     sync.WaitGroup
	quit   chan struct{}
}

// Start starts a server on loopback for the test and stops it when the test ends.
func Start(tb testing.TB, cfg Config) *Server {
	tb.Helper()
	if len(cfg.Models) == 0 {
		cfg.Models = []string{"fake-model"}
	}
	if cfg.ITL == 0 {
		cfg.ITL = 100 * time.Microsecond
	}
	s := &Server{cfg: cfg, quit: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/models", s.models)
	mux.HandleFunc("POST /v1/completions", s.complete)
	mux.HandleFunc("POST /v1/chat/completions", s.complete)
	if cfg.Sleep == "" {
		mux.HandleFunc("POST /reset_prefix_cache", s.reset)
	} else {
		mux.HandleFunc("POST /sleep", s.sleep)
		mux.HandleFunc("POST /wake_up", func(w http.ResponseWriter, r *http.Request) { s.asleep.Store(false) })
		mux.HandleFunc("GET /is_sleeping", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"is_sleeping":%t}`, s.asleep.Load())
		})
	}
	mux.HandleFunc("GET /metrics", s.metrics)
	s.Server = httptest.NewUnstartedServer(mux)
	s.Server.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.Start()
	tb.Cleanup(func() {
		close(s.quit)
		s.Close()
		s.wg.Wait()
	})
	return s
}

// BaseURL is the server's root (perftest.Target).
func (s *Server) BaseURL() string { return s.URL }

// Requests is the number of completion requests the server has answered or begun to.
func (s *Server) Requests() int64 { return s.n.Load() }

// Connections is the number of connections the server accepted.
func (s *Server) Connections() int64 { return s.conns.Load() }

func (s *Server) models(w http.ResponseWriter, r *http.Request) {
	switch s.cfg.Fault {
	case ModelsHang:
		s.hang(r)
		return
	case ModelsForever:
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"object":"list","data":[`)
		s.forever(w, r, []byte(`{"id":"m","object":"model"},`))
		return
	case ModelsEmptyID:
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"object":"list","data":[{"id":"","object":"model"}]}`)
		return
	}
	type model struct {
		ID   string         `json:"id"`
		Obj  string         `json:"object"`
		Meta map[string]any `json:"meta,omitempty"`
	}
	var data []model
	for _, id := range s.cfg.Models {
		m := model{ID: id, Obj: "model"}
		if s.cfg.Vocab > 0 {
			m.Meta = map[string]any{"n_vocab": s.cfg.Vocab, "n_ctx_train": 4096}
		}
		data = append(data, m)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": data})
}

type request struct {
	Model     string          `json:"model"`
	Prompt    json.RawMessage `json:"prompt"`
	Messages  json.RawMessage `json:"messages"`
	MaxTokens int             `json:"max_tokens"`
}

func httpError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	fmt.Fprintf(w, `{"error":{"code":%d,"message":%q,"type":"invalid_request_error"}}`, code, msg)
}

// hang holds a request until the client gives up or the server stops.
func (s *Server) hang(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-s.quit:
	}
}

// forever writes chunk until the client goes away or the server stops.
func (s *Server) forever(w http.ResponseWriter, r *http.Request, chunk []byte) {
	fl := w.(http.Flusher)
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.quit:
			return
		default:
		}
		if _, err := w.Write(chunk); err != nil {
			return
		}
		fl.Flush()
	}
}

// Sleeps is how many times the server slept, its cache dropped (Config.Sleep).
func (s *Server) Sleeps() int64 { return s.sleeps.Load() }

// Asleep says whether the server sleeps now.
func (s *Server) Asleep() bool { return s.asleep.Load() }

func (s *Server) sleep(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Sleep == SleepHonoured {
		s.asleep.Store(true)
		s.sleeps.Add(1)
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Server) reset(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Fault == ResetHang {
		s.hang(r)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	if s.hostileMetrics(w, r) {
		return
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	switch s.cfg.Fault {
	case MetricsHuge:
		line := []byte("vllm:num_requests_waiting{model_name=\"fake-model\",engine=\"0\"} 0\n")
		block := bytes.Repeat(line, (1<<20)/len(line)) // about 1 MiB a write, so that 64 MiB go out fast
		for written := 0; written < 64<<20; written += len(block) {
			if _, err := w.Write(block); err != nil {
				return
			}
		}
	case MetricsNaN:
		_, _ = io.WriteString(w, "vllm:num_requests_waiting NaN\nvllm:kv_cache_usage_perc +Inf\nvllm:num_preemptions_total 0\n")
	default:
		_, _ = io.WriteString(w, "vllm:num_requests_waiting 0\nvllm:kv_cache_usage_perc 0.1\nvllm:num_preemptions_total 0\n")
	}
}

func (s *Server) complete(w http.ResponseWriter, r *http.Request) {
	n := s.n.Add(1)
	body, err := io.ReadAll(r.Body)
	if err == nil && s.cfg.OnRequest != nil {
		s.cfg.OnRequest(r.URL.Path, body)
	}
	var req request
	if err := json.Unmarshal(body, &req); err != nil || req.MaxTokens <= 0 {
		httpError(w, http.StatusBadRequest, "bad request")
		return
	}
	if !slices.Contains(s.cfg.Models, req.Model) {
		httpError(w, http.StatusNotFound, fmt.Sprintf("model %q not found", req.Model))
		return
	}
	var ids []int
	promptLen := 1
	if json.Unmarshal(req.Prompt, &ids) == nil {
		promptLen = len(ids)
		for _, id := range ids {
			if s.cfg.Vocab > 0 && (id < 0 || id >= s.cfg.Vocab) {
				httpError(w, http.StatusBadRequest, fmt.Sprintf("invalid token id %d: the vocabulary has %d tokens", id, s.cfg.Vocab))
				return
			}
		}
	}
	tokens := req.MaxTokens
	if s.cfg.Generate != nil {
		tokens = s.cfg.Generate(n, req.MaxTokens)
	}
	if s.cfg.CloseAfterStream {
		s.rawStream(w, promptLen, tokens)
		return
	}
	if s.fault(w, r, promptLen, tokens) || s.hostileFault(w) {
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	fl := w.(http.Flusher)
	s.stream(w, fl.Flush, r.Context().Done(), promptLen, tokens)
}

// stream writes the events of a completion of tokens tokens.
func (s *Server) stream(w io.Writer, flush func(), done <-chan struct{}, promptLen, tokens int) {
	t := time.NewTimer(s.cfg.ITL)
	defer t.Stop()
	for i := range tokens {
		t.Reset(s.cfg.ITL)
		select {
		case <-t.C:
		case <-done:
			return
		case <-s.quit:
			return
		}
		if s.cfg.StreamError != "" && i == s.cfg.ErrorAfter {
			fmt.Fprintf(w, "error: {\"code\":500,\"message\":%q,\"type\":\"server_error\"}\n\ndata: [DONE]\n\n", s.cfg.StreamError)
			flush()
			return
		}
		fmt.Fprintf(w, "data: {\"choices\":[{\"index\":0,\"text\":\" t%d\",\"finish_reason\":null}]}\n\n", i)
		flush()
	}
	fmt.Fprintf(w, "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":%d,\"completion_tokens\":%d,\"total_tokens\":%d}}\n\ndata: [DONE]\n\n", promptLen, tokens, promptLen+tokens)
	flush()
}

// rawStream takes the connection over, streams one response that says Keep-Alive, and
// closes the connection once the client has reused it for another request.
func (s *Server) rawStream(w http.ResponseWriter, promptLen, tokens int) {
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	s.wg.Add(1)
	defer s.wg.Done()
	defer conn.Close()
	bw := bufio.NewWriter(conn)
	fmt.Fprint(bw, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5, max=100\r\nTransfer-Encoding: chunked\r\n\r\n")
	cw := &chunkedWriter{w: bw}
	s.stream(cw, func() { _ = bw.Flush() }, s.quit, promptLen, tokens)
	fmt.Fprint(bw, "0\r\n\r\n")
	_ = bw.Flush()
	// Wait for the client to send its next request on this connection, then close it
	// unanswered, as a server that closed after the stream looks to a client that reused it.
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _ = brw.Reader.Peek(1)
}

// chunkedWriter writes HTTP/1.1 chunked encoding.
type chunkedWriter struct{ w io.Writer }

func (c *chunkedWriter) Write(p []byte) (int, error) {
	if _, err := fmt.Fprintf(c.w, "%x\r\n", len(p)); err != nil {
		return 0, err
	}
	n, err := c.w.Write(p)
	if err == nil {
		_, err = io.WriteString(c.w, "\r\n")
	}
	return n, err
}

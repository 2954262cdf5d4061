package mock

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// front is the HTTP side that a Server and a Cluster share: one route table, the guard
// that counts handlers and answers 503 once closed, and the address.
//
// A Server's front mutex is also its engine's: the guard and the engine loop take the
// same lock, as they did before the front was shared.
type front struct {
	mu       sync.Mutex // guards closed and addr (and a Server's engine)
	closed   bool
	addr     string
	handlers sync.WaitGroup
	http     *http.Server
}

// surface is what the routes serve: a Server, or a Cluster that routes each completion to
// one of its workers.
type surface interface {
	// ready reports whether the startup delay has passed.
	ready() bool
	// models answers GET /v1/models.
	models(w http.ResponseWriter, r *http.Request)
	// ResetPrefixCache empties the prefix cache (POST /reset_prefix_cache).
	ResetPrefixCache(context.Context) error
	// run serves a decoded completion and writes its response.
	run(w http.ResponseWriter, r *http.Request, req apiRequest)
}

// routes sets up the simulator's HTTP surface for s: completions, chat completions,
// responses, and the pooling routes (embeddings, score, rerank at vLLM's paths), checked
// against cfg's model, context length and body limit; /v1/models, /health,
// /version (answering version), /metrics from g, and vLLM's dev-mode
// /reset_prefix_cache, which perf runners call between repetitions so that each starts
// with a cold prefix cache.
func (f *front) routes(s surface, cfg Config, version string, g prometheus.Gatherer) {
	mux := http.NewServeMux()
	for path, api := range map[string]apiKind{
		"/v1/completions": apiCompletions, "/v1/chat/completions": apiChat, "/v1/responses": apiResponses,
		"/v1/embeddings": apiEmbeddings, "/score": apiScore, "/v1/score": apiScore,
		"/rerank": apiRerank, "/v1/rerank": apiRerank, "/v2/rerank": apiRerank,
	} {
		mux.HandleFunc(path, f.guard(func(w http.ResponseWriter, r *http.Request) { complete(s, &cfg, w, r, api) }))
	}
	mux.HandleFunc("/v1/models", f.guard(s.models))
	mux.HandleFunc("/health", f.guard(func(w http.ResponseWriter, r *http.Request) {
		if !s.ready() {
			writeError(w, &apiError{http.StatusServiceUnavailable, "ServiceUnavailableError", "starting up"})
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	mux.HandleFunc("/version", f.guard(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"version":"`+version+`"}`)
	}))
	mux.Handle("/metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	mux.HandleFunc("POST /reset_prefix_cache", f.guard(func(w http.ResponseWriter, r *http.Request) {
		s.ResetPrefixCache(r.Context())
		w.WriteHeader(http.StatusOK)
	}))
	mux.HandleFunc("/", f.guard(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &apiError{http.StatusNotFound, "NotFoundError", "no route " + r.URL.Path})
	}))
	// No ReadTimeout: it would also end a long stream (the server's read of the next
	// request times out mid-response and cancels it); complete bounds the body instead.
	f.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: cfg.IdleTimeout}
}

// complete reads and decodes a request for api and hands it to s.
func complete(s surface, cfg *Config, w http.ResponseWriter, r *http.Request, api apiKind) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, &apiError{http.StatusMethodNotAllowed, "MethodNotAllowed", "use POST"})
		return
	}
	if !s.ready() {
		writeError(w, &apiError{http.StatusServiceUnavailable, "ServiceUnavailableError", "starting up"})
		return
	}
	body, err := readBody(w, r, *cfg)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, &apiError{http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", fmt.Sprintf("request body over %d bytes", tooBig.Limit)})
			return
		}
		writeError(w, badRequest("read body: %v", err))
		return
	}
	req, aerr := decodeRequest(body, api, cfg)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	s.run(w, r, req)
}

// guard counts handlers so that Close can wait for them, and answers 503 once closed.
func (f *front) guard(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		if f.closed {
			f.mu.Unlock()
			writeError(w, &apiError{http.StatusServiceUnavailable, "ServiceUnavailableError", "server is shutting down"})
			return
		}
		f.handlers.Add(1)
		f.mu.Unlock()
		defer f.handlers.Done()
		h(w, r)
	}
}

func (f *front) setAddr(a string) {
	f.mu.Lock()
	f.addr = a
	f.mu.Unlock()
}

// readBody reads a request body of at most cfg.MaxBodyBytes within cfg.BodyTimeout. The
// read deadline is lifted as soon as the body is in: the stream that follows may outlast
// it, and the server's read for the next request would otherwise time out and cancel it.
// On a failure it stays, so that the server does not wait for the rest of the body before
// answering, and the connection closes after the answer.
func readBody(w http.ResponseWriter, r *http.Request, cfg Config) ([]byte, error) {
	rc := http.NewResponseController(w)
	if cfg.BodyTimeout > 0 {
		_ = rc.SetReadDeadline(time.Now().Add(cfg.BodyTimeout))
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, cfg.MaxBodyBytes))
	if err != nil {
		w.Header().Set("Connection", "close")
		return nil, err
	}
	if cfg.BodyTimeout > 0 {
		_ = rc.SetReadDeadline(time.Time{})
	}
	return body, nil
}

// serveHTTP answers HTTP on ln until Close; it returns nil after Close. what names the
// server in errors.
func (f *front) serveHTTP(ln net.Listener, what string) error {
	if err := f.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// baseURL is "http://" and the address, or "" before Serve.
func (f *front) baseURL() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.addr == "" {
		return ""
	}
	return "http://" + f.addr
}

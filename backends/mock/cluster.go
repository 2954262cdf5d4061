package mock

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// ClusterConfig configures a simulated cluster: Workers engines, each the simulator with
// its own KV cache, queue and metrics, behind one router and one OpenAI-compatible URL. The
// zero value is one worker behind a round-robin router.
type ClusterConfig struct {
	// Workers is the number of engines (0 means 1; at most MaxWorkers).
	Workers int
	// Worker configures every engine; worker i's noise and faults are seeded with
	// Worker.Seed + i.
	Worker Config
	// Router configures the router.
	Router RouterConfig
}

func (c ClusterConfig) withDefaults() ClusterConfig {
	if c.Workers == 0 {
		c.Workers = 1
	}
	c.Worker = c.Worker.withDefaults()
	c.Router = c.Router.withDefaults()
	return c
}

// Validate reports every problem with the configuration at once (after defaults).
func (c ClusterConfig) Validate() error {
	var errs []error
	if c.Workers < 0 || c.Workers > MaxWorkers {
		errs = append(errs, fmt.Errorf("mock cluster: Workers must be in [1, %d], got %d", MaxWorkers, c.Workers))
	}
	if err := c.Worker.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Router.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("mock cluster: %w", err))
	}
	return errors.Join(errs...)
}

// Cluster is a simulated cluster on the real clock: worker engines behind a router, served
// on one URL with the simulator's HTTP surface. Completions are routed; GET /metrics has
// every worker's series labelled worker="i" beside the router's own; POST
// /reset_prefix_cache empties every worker's prefix cache (the router hears of it through
// the workers' KV events, like any eviction).
type Cluster struct {
	cfg     ClusterConfig
	workers []*Server
	router  *router
	m       *clusterMetrics
	http    *http.Server

	mu       sync.Mutex
	closed   bool
	addr     string
	handlers sync.WaitGroup
}

// NewCluster builds a cluster from cfg without listening; call Serve, then Close.
func NewCluster(cfg ClusterConfig) (*Cluster, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	c := &Cluster{cfg: cfg, router: newRouter(cfg.Router, cfg.Workers, cfg.Worker.BlockSize)}
	c.router.shared = true
	for i := range cfg.Workers {
		wc := cfg.Worker
		wc.Seed += uint64(i)
		s, err := New(wc)
		if err != nil {
			return nil, err
		}
		w := i
		s.eng.kv.onEvent = func(stored bool, h uint64) { c.router.event(w, stored, h) }
		c.workers = append(c.workers, s)
	}
	c.m = newClusterMetrics(c)
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/completions", c.guard(func(w http.ResponseWriter, r *http.Request) { c.complete(w, r, false) }))
	mux.HandleFunc("/v1/chat/completions", c.guard(func(w http.ResponseWriter, r *http.Request) { c.complete(w, r, true) }))
	mux.HandleFunc("/v1/models", c.guard(func(w http.ResponseWriter, r *http.Request) { c.workers[0].models(w, r) }))
	mux.HandleFunc("/health", c.guard(func(w http.ResponseWriter, r *http.Request) {
		if !c.ready() {
			writeError(w, &apiError{http.StatusServiceUnavailable, "ServiceUnavailableError", "starting up"})
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	mux.HandleFunc("/version", c.guard(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"version":"perfgate-mock-cluster"}`)
	}))
	mux.Handle("/metrics", promhttp.HandlerFor(c.m, promhttp.HandlerOpts{}))
	mux.HandleFunc("POST /reset_prefix_cache", c.guard(func(w http.ResponseWriter, r *http.Request) {
		c.ResetPrefixCache(r.Context())
		w.WriteHeader(http.StatusOK)
	}))
	mux.HandleFunc("/", c.guard(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &apiError{http.StatusNotFound, "NotFoundError", "no route " + r.URL.Path})
	}))
	c.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	return c, nil
}

// StartCluster starts a cluster on 127.0.0.1 with a free port for the test tb and stops it
// when the test ends. It fails the test on a bad config.
func StartCluster(tb testing.TB, cfg ClusterConfig) *Cluster {
	tb.Helper()
	c, err := NewCluster(cfg)
	if err != nil {
		tb.Fatalf("mock.StartCluster: %v", err)
	}
	serveForTest(tb, "mock.StartCluster", c)
	return c
}

func (c *Cluster) setAddr(a string) {
	c.mu.Lock()
	c.addr = a
	c.mu.Unlock()
}

// Serve runs the workers' engines and answers HTTP on ln until Close. It returns nil after
// Close.
func (c *Cluster) Serve(ln net.Listener) error {
	c.setAddr(ln.Addr().String())
	for _, s := range c.workers {
		s.loopOnce.Do(func() { go s.loop() })
	}
	if err := c.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve mock cluster: %w", err)
	}
	return nil
}

// Close stops the cluster: connections are closed, streams in flight end, the engines stop.
func (c *Cluster) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	err := c.http.Close()
	for _, s := range c.workers {
		s.Close()
	}
	c.handlers.Wait()
	return err
}

// guard counts handlers so that Close can wait for them, and answers 503 once closed.
func (c *Cluster) guard(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			writeError(w, &apiError{http.StatusServiceUnavailable, "ServiceUnavailableError", "server is shutting down"})
			return
		}
		c.handlers.Add(1)
		c.mu.Unlock()
		defer c.handlers.Done()
		h(w, r)
	}
}

func (c *Cluster) ready() bool {
	for _, s := range c.workers {
		if !s.ready() {
			return false
		}
	}
	return true
}

// complete decodes a completion, hashes its prompt blocks once, lets the router pick a
// worker and runs it there.
func (c *Cluster) complete(w http.ResponseWriter, r *http.Request, chat bool) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, &apiError{http.StatusMethodNotAllowed, "MethodNotAllowed", "use POST"})
		return
	}
	if !c.ready() {
		writeError(w, &apiError{http.StatusServiceUnavailable, "ServiceUnavailableError", "starting up"})
		return
	}
	wc := c.cfg.Worker
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, wc.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, &apiError{http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", fmt.Sprintf("request body over %d bytes", tooBig.Limit)})
			return
		}
		writeError(w, badRequest("read body: %v", err))
		return
	}
	req, aerr := decodeRequest(body, chat, wc.Model, wc.MaxModelLen)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	q := newSeq(req.tokens, req.maxTokens, wc.BlockSize)
	t := c.router.route(q.hashes, q.promptLen, q.maxTokens)
	defer c.router.finish(t)
	c.m.count(t)
	c.workers[t.worker].serve(&routedWriter{ResponseWriter: w, first: func() { c.router.firstToken(t) }}, r, req, q)
}

// routedWriter tells the router when a response's first bytes go out: for a stream, the
// first token (the end of its prefill).
type routedWriter struct {
	http.ResponseWriter
	first func()
	wrote bool
}

func (w *routedWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.wrote = true
		w.first()
	}
	return w.ResponseWriter.Write(b)
}

func (w *routedWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (w *routedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// BaseURL is the cluster's root URL, "http://127.0.0.1:PORT", without "/v1".
func (c *Cluster) BaseURL() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.addr == "" {
		return ""
	}
	return "http://" + c.addr
}

// MetricsURL is the URL of the Prometheus metrics.
func (c *Cluster) MetricsURL() string { return c.BaseURL() + "/metrics" }

// MetricNames maps perftest's server metrics to the cluster's series (perftest.MetricsSource):
// the workers' vLLM series, summed over workers by the reader, and for KV usage the mean
// over workers.
func (c *Cluster) MetricNames() map[string]string {
	m := metricNames()
	m["kv-usage"] = seriesClusterKVUsage
	return m
}

// ResetPrefixCache empties every worker's prefix cache (perftest.CacheResetter).
func (c *Cluster) ResetPrefixCache(ctx context.Context) error {
	for _, s := range c.workers {
		s.ResetPrefixCache(ctx)
	}
	return nil
}

// Model is the served model name.
func (c *Cluster) Model() string { return c.cfg.Worker.Model }

// Workers are the cluster's engines, in worker order.
func (c *Cluster) Workers() []*Server { return c.workers }

// Describe identifies the system under test for result files: backend, model, number of
// workers and router policy.
func (c *Cluster) Describe() map[string]string {
	return map[string]string{"backend": "mock", "model": c.cfg.Worker.Model,
		"workers": strconv.Itoa(c.cfg.Workers), "router": string(c.cfg.Router.Policy)}
}

// RouterStats is the router's book per worker so far.
func (c *Cluster) RouterStats() []RouterStats { return c.router.stats() }

package mock

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"testing"
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
	front
}

// NewCluster builds a cluster from cfg without listening; call Serve, then Close.
func NewCluster(cfg ClusterConfig) (*Cluster, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	var err error
	if cfg.Worker.OTLPTracesEndpoint, err = resolveTraceEndpoint(cfg.Worker.OTLPTracesEndpoint); err != nil {
		return nil, err
	}
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
	c.routes(c, cfg.Worker, "perfgate-mock-cluster", c.m)
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

// Serve runs the workers' engines and answers HTTP on ln until Close. It returns nil after
// Close.
func (c *Cluster) Serve(ln net.Listener) error {
	c.setAddr(ln.Addr().String())
	for _, s := range c.workers {
		s.loopOnce.Do(func() { go s.loop() })
	}
	return c.serveHTTP(ln, "serve mock cluster")
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

func (c *Cluster) ready() bool {
	for _, s := range c.workers {
		if !s.ready() {
			return false
		}
	}
	return true
}

// models answers GET /v1/models as the workers do.
func (c *Cluster) models(w http.ResponseWriter, r *http.Request) { c.workers[0].models(w, r) }

// run hashes a decoded completion's prompt blocks once, lets the router pick a worker and
// runs it there.
func (c *Cluster) run(w http.ResponseWriter, r *http.Request, req apiRequest) {
	if req.api >= apiEmbeddings {
		// A pooling request's inputs go to one worker, picked by its first input.
		q := newSeq(req.pool.inputs[0], 0, c.cfg.Worker.BlockSize)
		t := c.router.route(q.hashes, q.promptLen, 0)
		defer c.router.finish(t)
		c.m.count(t)
		c.workers[t.worker].servePool(&routedWriter{ResponseWriter: w, first: func() { c.router.firstToken(t) }}, r, req)
		return
	}
	q := req.seq(c.cfg.Worker.BlockSize)
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
func (c *Cluster) BaseURL() string { return c.baseURL() }

// MetricsURL is the URL of the Prometheus metrics.
func (c *Cluster) MetricsURL() string { return c.BaseURL() + "/metrics" }

// MetricNames maps perftest's server metrics to the cluster's series (perftest.MetricsSource):
// the workers' vLLM series, summed over workers by the reader, and for KV usage the mean
// over workers.
func (c *Cluster) MetricNames() map[string]string {
	m := metricNames(c.cfg.Worker.Speculative.NumSpeculativeTokens > 0)
	m["kv-usage"] = seriesClusterKVUsage
	return withTraces(m, c.cfg.Worker.OTLPTracesEndpoint)
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

package mock

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Server is a simulated OpenAI-compatible inference server: an engine loop on the real
// clock behind vLLM's HTTP surface.
type Server struct {
	cfg     Config
	eng     *engine
	m       *metrics
	created time.Time

	front               // its mu guards the engine and the fields below too
	wake     *sync.Cond // signalled when work arrives or the server closes
	loopOnce sync.Once
	loopDone chan struct{}
	quit     chan struct{} // closed by Close

	faultMu  sync.Mutex
	faultRng *rand.Rand
	reqID    uint64

	encoderCache, grammars lru // guarded by mu

	spans   *exporter       // nil without Config.OTLPTracesEndpoint
	timings []RequestTiming // guarded by mu; kept with Config.KeepTimings
}

// New builds a server from cfg without listening; call Serve, then Close.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	var err error
	if cfg.OTLPTracesEndpoint, err = resolveTraceEndpoint(cfg.OTLPTracesEndpoint); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:      cfg,
		created:  time.Now(),
		loopDone: make(chan struct{}),
		quit:     make(chan struct{}),
		faultRng: rand.New(rand.NewPCG(cfg.Seed, 0x6661756c7473)),
	}
	s.wake = sync.NewCond(&s.mu)
	s.m = newMetrics(cfg.Model, func() (int, int, float64) {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.eng.running), s.eng.nWaiting, s.eng.kvUsage()
	})
	s.m.cacheConfig(cfg.Model, cfg)
	s.eng = newEngine(cfg, serverHooks{s})
	if cfg.OTLPTracesEndpoint != "" {
		s.spans = newExporter(cfg.OTLPTracesEndpoint, cfg.Model, s.created, cfg.Seed)
	}
	s.eng.ready = cfg.StartupDelay
	s.encoderCache.budget, s.grammars.budget = cfg.Multimodal.EncoderCacheTokens, 4096
	if k := cfg.Speculative.NumSpeculativeTokens; k > 0 {
		s.m.speculative(cfg.Model, k, func(f func(*specTotals) float64) float64 {
			s.mu.Lock()
			defer s.mu.Unlock()
			return f(&s.eng.spec)
		})
	}
	s.routes(s, cfg, "perfgate-mock", s.m.reg)
	return s, nil
}

// Start starts a server on 127.0.0.1 with a free port for the test tb and stops it when the
// test ends. It fails the test on a bad config.
func Start(tb testing.TB, cfg Config) *Server {
	tb.Helper()
	s, err := New(cfg)
	if err != nil {
		tb.Fatalf("mock.Start: %v", err)
	}
	serveForTest(tb, "mock.Start", s)
	return s
}

// serveForTest serves s on 127.0.0.1 with a free port, its address set before it returns,
// until the test tb ends.
func serveForTest(tb testing.TB, caller string, s interface {
	setAddr(string)
	Serve(net.Listener) error
	Close() error
}) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("%s: %v", caller, err)
	}
	served := make(chan struct{})
	s.setAddr(ln.Addr().String())
	go func() {
		defer close(served)
		s.Serve(ln)
	}()
	tb.Cleanup(func() {
		s.Close()
		<-served
	})
}

// Serve runs the engine and answers HTTP on ln until Close. It returns nil after Close.
func (s *Server) Serve(ln net.Listener) error {
	s.setAddr(ln.Addr().String())
	s.loopOnce.Do(func() { go s.loop() })
	return s.serveHTTP(ln, "serve mock")
}

// Close stops the server: connections are closed, streams in flight end, the engine stops.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.quit)
	s.wake.Broadcast()
	s.mu.Unlock()
	err := s.http.Close()
	s.loopOnce.Do(func() { close(s.loopDone) })
	<-s.loopDone
	s.handlers.Wait()
	if s.spans != nil {
		s.spans.close()
	}
	return err
}

// BaseURL is the server's root URL, "http://127.0.0.1:PORT", without "/v1". Start sets it
// before it returns; after New it is empty until Serve has been called.
func (s *Server) BaseURL() string { return s.baseURL() }

// MetricsURL is the URL of the Prometheus metrics.
func (s *Server) MetricsURL() string { return s.BaseURL() + "/metrics" }

// MetricNames maps perftest's server metrics to the simulator's series, which are vLLM's
// (perftest.MetricsSource).
func (s *Server) MetricNames() map[string]string {
	return withTraces(metricNames(s.cfg.Speculative.NumSpeculativeTokens > 0), s.cfg.OTLPTracesEndpoint)
}

// ResetPrefixCache empties the simulator's prefix cache, as POST /reset_prefix_cache does
// (perftest.CacheResetter): cached blocks no running request holds are dropped.
func (s *Server) ResetPrefixCache(context.Context) error {
	s.mu.Lock()
	s.eng.kv.resetPrefix()
	s.mu.Unlock()
	return nil
}

// Model is the served model name.
func (s *Server) Model() string { return s.cfg.Model }

// Describe identifies the system under test for result files: backend and model only, never
// tunables, so that a slowed simulator still compares as the same configuration.
func (s *Server) Describe() map[string]string {
	return map[string]string{"backend": "mock", "model": s.cfg.Model}
}

// loop is the engine on the real clock. Steps start back to back: each starts when the
// previous one was due to end, so timer lateness does not accumulate.
func (s *Server) loop() {
	defer close(s.loopDone)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var prevEnd time.Duration
	busy := false
	for {
		s.mu.Lock()
		for !s.closed && !s.eng.hasWork() {
			busy = false
			s.wake.Wait()
		}
		if s.closed {
			s.mu.Unlock()
			return
		}
		now := time.Since(s.created)
		start := now
		if busy && now-prevEnd < time.Second {
			start = prevEnd // catch up with a late wake-up
		}
		d, ok := s.eng.schedule(start)
		s.mu.Unlock()
		if !ok && start != now {
			busy = false // only requests newer than the step: start one now
			continue
		}
		if !ok {
			// Nothing could run (all cancelled): look again shortly.
			busy = false
			d = time.Millisecond
		}
		end := start + d
		timer.Reset(time.Until(s.created.Add(end)))
		select {
		case <-timer.C:
		case <-s.quit:
			return
		}
		if ok {
			s.mu.Lock()
			s.eng.commit(end)
			s.mu.Unlock()
			prevEnd, busy = end, true
		}
	}
}

// serverHooks forwards engine events to the metrics, the span exporter and the timings
// kept, and wakes the handlers.
type serverHooks struct{ s *Server }

func (h serverHooks) admitted(q *seq, now time.Duration) { h.s.m.admitted(q, now) }

func (h serverHooks) token(q *seq, now time.Duration) {
	h.s.m.token(q, now)
	q.emitted.Store(int32(q.generated))
	if !q.quiet {
		poke(q)
	}
}

func (h serverHooks) finished(q *seq, now time.Duration, why finishReason) {
	h.s.m.finished(q, now, why)
	if why != finishAbort && !q.pool {
		h.s.traceFinished(q, now)
	}
	q.done.Store(true)
	poke(q)
}

func (h serverHooks) preempted(q *seq, now time.Duration) { h.s.m.preempted(q, now) }

func poke(q *seq) {
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

func (s *Server) ready() bool { return time.Since(s.created) >= s.cfg.StartupDelay }

func (s *Server) models(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"object":"list","data":[{"id":%s,"object":"model","created":%d,"owned_by":"perfgate","root":%s,"parent":null,"max_model_len":%d}]}`,
		strconv.Quote(s.cfg.Model), s.created.Unix(), strconv.Quote(s.cfg.Model), s.cfg.MaxModelLen)
}

// faultPlan is what the fault injector decided for one request.
type faultPlan struct{ fail, disconnect, stall, malformed bool }

func (s *Server) drawFaults() faultPlan {
	f := s.cfg.Faults
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	draw := func(p float64) bool { return p > 0 && s.faultRng.Float64() < p }
	return faultPlan{draw(f.ErrorRate), draw(f.DisconnectRate), draw(f.StallRate), draw(f.MalformedRate)}
}

// run serves a decoded request on this server's engine.
func (s *Server) run(w http.ResponseWriter, r *http.Request, req apiRequest) {
	if req.api >= apiEmbeddings {
		s.servePool(w, r, req)
		return
	}
	s.serve(w, r, req, req.seq(s.eng.bs))
}

// seq builds the engine's sequence of a generation request, with its output plan.
func (r *apiRequest) seq(bs int) *seq {
	q := newSeq(r.tokens, r.maxTokens, bs)
	q.reasoning, q.structured, q.stop = int32(r.out.reasoning), r.out.grammar, r.out.stops()
	return q
}

// onceCost is the one-off time a request costs the step that first schedules it: the
// encoder for its images not in the encoder cache, the grammar compilation for a schema
// not seen before. It counts vLLM's multimodal cache queries and hits. Call with s.mu
// held.
func (s *Server) onceCost(req *apiRequest) float64 {
	ms := 0.0
	mm := s.cfg.Multimodal
	for _, im := range req.images {
		s.m.mmQueries.Inc()
		if s.encoderCache.touch(im.hash, im.tokens) {
			s.m.mmHits.Inc()
			continue
		}
		ms += mm.EncoderMS + mm.EncoderTokenMS*float64(im.tokens)
	}
	if h := req.out.schema; h != 0 && !s.grammars.touch(h, 1) {
		ms += s.cfg.StructuredOutput.CompileMS
	}
	return ms
}

// serve runs a decoded request, whose sequence q is built but not queued, on this server's
// engine and writes the response. A cluster calls it on the worker its router picked.
func (s *Server) serve(w http.ResponseWriter, r *http.Request, req apiRequest, q *seq) {
	plan := s.drawFaults()
	if plan.fail {
		writeError(w, &apiError{http.StatusInternalServerError, "InternalServerError", "injected fault"})
		return
	}
	q.notify = make(chan struct{}, 1)
	q.quiet = !req.stream && !plan.stall && !plan.disconnect
	q.tc, q.traced = parseTraceparent(r.Header.Get("Traceparent"))
	s.mu.Lock()
	s.reqID++
	id := s.reqID
	q.id = id
	q.onceMS = float32(s.onceCost(&req))
	err := s.eng.add(q, time.Since(s.created))
	if err == nil {
		s.wake.Signal()
	}
	s.mu.Unlock()
	if err != nil {
		writeError(w, badRequest("%v", err))
		return
	}
	defer func() {
		if !q.done.Load() {
			s.mu.Lock()
			s.eng.cancel(q, time.Since(s.created))
			s.wake.Signal()
			s.mu.Unlock()
		}
	}()
	rw := newResponder(w, &req, id, s.created.Unix(), plan, &s.cfg)
	sent := 0
	for {
		select {
		case <-q.notify:
		case <-r.Context().Done():
			return
		case <-s.quit:
			return
		}
		n := int(q.emitted.Load())
		done := q.done.Load()
		if done && n < req.maxTokens {
			return // aborted
		}
		if !rw.write(sent, n, q, r.Context(), s.quit) {
			return
		}
		sent = n
		if done {
			rw.finish(q)
			return
		}
		rw.flush()
	}
}

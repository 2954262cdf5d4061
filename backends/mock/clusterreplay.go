package mock

import (
	"fmt"
	"iter"
	"math"
	"time"
)

// ClusterReplayOptions change how ReplayCluster sends requests.
type ClusterReplayOptions struct {
	// Concurrency, when above 0, replays closed loop: Concurrency requests are sent at
	// time 0 and each following one when a request finishes; arrival times are ignored
	// (a result's Arrival is when the request was sent). At 0 requests arrive on their
	// Arrival times (open loop).
	Concurrency int
	// TokenTimes records every token's time in ClusterReplayResult.Tokens.
	TokenTimes bool
}

// ClusterReplayResult is the simulated outcome of one request of a cluster replay.
type ClusterReplayResult struct {
	ReplayResult
	// Worker is the worker the router picked (-1 for a rejected request).
	Worker int
	// RouterOverlap is the number of prompt blocks the router expected that worker to hold,
	// from the KV events it had received when it routed the request.
	RouterOverlap int
	// Tokens holds each token's time from Arrival, with ClusterReplayOptions.TokenTimes.
	Tokens []time.Duration
}

// ClusterReplayStats sums up a cluster replay.
type ClusterReplayStats struct {
	// ReplayStats are the cluster's totals (Steps, Busy, Preemptions and the speculative decoding counters summed over workers).
	ReplayStats
	// Workers holds each worker's own figures: Requests counts those routed to it, Makespan
	// is its last step's end.
	Workers []ReplayStats
	// Router holds the router's book per worker.
	Router []RouterStats
}

// replayWorker is one engine of a cluster replay.
type replayWorker struct {
	e    *engine
	busy bool          // a step is planned
	end  time.Duration // when it ends
}

// replayReq is a request in flight in a cluster replay.
type replayReq struct {
	t      *ticket
	tokens []time.Duration
}

type clusterReplay struct {
	opt      ClusterReplayOptions
	r        *router
	ws       []replayWorker
	each     func(ClusterReplayResult)
	stats    ClusterReplayStats
	inflight map[*seq]*replayReq
}

// clusterHooks are worker w's engine hooks in a cluster replay.
type clusterHooks struct {
	c *clusterReplay
	w int
}

func (h clusterHooks) admitted(*seq, time.Duration)  {}
func (h clusterHooks) preempted(*seq, time.Duration) {}

func (h clusterHooks) token(q *seq, now time.Duration) {
	st := h.c.inflight[q]
	if q.generated == 1 {
		h.c.r.firstToken(st.t)
	}
	if h.c.opt.TokenTimes {
		st.tokens = append(st.tokens, now-q.arrival)
	}
}

func (h clusterHooks) finished(q *seq, now time.Duration, why finishReason) {
	c := h.c
	st := c.inflight[q]
	delete(c.inflight, q)
	c.r.finish(st.t)
	c.stats.add(q)
	c.stats.Workers[h.w].add(q)
	if c.each != nil {
		c.each(ClusterReplayResult{ReplayResult: finished(q, now), Worker: h.w, RouterOverlap: st.t.overlap, Tokens: st.tokens})
	}
}

func (c *clusterReplay) reject(q *seq, err error) {
	c.stats.Rejected++
	if c.each != nil {
		c.each(ClusterReplayResult{ReplayResult: rejected(q, err), Worker: -1})
	}
}

// ReplayCluster runs requests through a simulated cluster on a virtual clock, as [Replay]
// does for one engine: every worker is an engine with its own KV cache, the router picks a
// worker when a request arrives, and the workers' KV events (blocks stored in and evicted
// from their prefix caches) reach the router at the end of the step that caused them. A
// step of each worker starts when the previous one ended if it has work; time jumps from
// one event (an arrival, the end of some worker's step) to the next. The outcome is
// deterministic for a given configuration. With one worker it is exactly Replay's.
//
// Requests must come in arrival order (open loop); each result is passed to each (which may
// be nil) as its request finishes.
func ReplayCluster(cfg ClusterConfig, reqs iter.Seq2[ReplayRequest, error], opt ClusterReplayOptions, each func(ClusterReplayResult)) (ClusterReplayStats, error) {
	if err := cfg.Validate(); err != nil {
		return ClusterReplayStats{}, fmt.Errorf("replay cluster: %w", err)
	}
	if opt.Concurrency < 0 {
		return ClusterReplayStats{}, fmt.Errorf("replay cluster: Concurrency must be >= 0, got %d", opt.Concurrency)
	}
	cfg = cfg.withDefaults()
	wcfg := cfg.Worker.withDefaults()
	wcfg.Faults = Faults{}
	c := newClusterReplay(cfg.Workers, wcfg, cfg.Router, opt, each)
	src := newReplayReader(reqs, "replay cluster", wcfg.BlockSize, wcfg.MaxModelLen, &c.stats.Requests, c.reject)
	defer src.stop()
	return c.run(src)
}

// newClusterReplay sets up n workers configured as wcfg (worker i's noise seeded with
// wcfg.Seed + i), whose KV events reach a router configured as rcfg.
func newClusterReplay(n int, wcfg Config, rcfg RouterConfig, opt ClusterReplayOptions, each func(ClusterReplayResult)) *clusterReplay {
	c := &clusterReplay{opt: opt, each: each, inflight: map[*seq]*replayReq{}}
	c.stats.Workers = make([]ReplayStats, n)
	c.ws = make([]replayWorker, n)
	c.r = newRouter(rcfg, n, wcfg.BlockSize)
	for i := range c.ws {
		wc := wcfg
		wc.Seed = wcfg.Seed + uint64(i)
		c.ws[i].e = newEngine(wc, clusterHooks{c, i})
		w := i
		c.ws[i].e.kv.onEvent = func(stored bool, h uint64) { c.r.event(w, stored, h) }
	}
	return c
}

// run moves the clock from one event to the next until every request has finished: at
// each, the workers' steps that end then are committed, the requests due are sent, and
// every idle worker with work starts a step.
func (c *clusterReplay) run(src *replayReader) (ClusterReplayStats, error) {
	var now time.Duration
	for {
		if err := src.pull(); err != nil {
			return c.finish(now), err
		}
		t, done, err := c.nextEvent(now, src.pending)
		if err != nil {
			return c.finish(now), err
		}
		if done {
			return c.finish(now), nil
		}
		now = t
		for i := range c.ws {
			if w := &c.ws[i]; w.busy && w.end == now {
				w.busy = false
				w.e.commit(now)
			}
		}
		if err := c.sendDue(src, now); err != nil {
			return c.finish(now), err
		}
		for i := range c.ws {
			w := &c.ws[i]
			if w.busy || !w.e.hasWork() {
				continue
			}
			if d, ok := w.e.schedule(now); ok {
				w.busy, w.end = true, now+d
			}
		}
	}
}

// nextEvent is the time of the next event after now: the arrival of pending (open loop),
// the end of a worker's step, or now when a closed loop has room to send pending. done is
// true when there is none and no worker has work left.
func (c *clusterReplay) nextEvent(now time.Duration, pending *seq) (t time.Duration, done bool, err error) {
	const never = time.Duration(math.MaxInt64)
	t = never
	if pending != nil && c.opt.Concurrency == 0 {
		t = max(pending.arrival, now)
	}
	for i := range c.ws {
		if c.ws[i].busy {
			t = min(t, c.ws[i].end)
		}
	}
	if t != never {
		return t, false, nil
	}
	if pending != nil && len(c.inflight) < c.opt.Concurrency {
		return now, false, nil // closed loop: room to send at once
	}
	for i := range c.ws {
		if c.ws[i].e.hasWork() {
			return 0, false, fmt.Errorf("replay cluster: worker %d stuck at %v with %d waiting", i, now, c.ws[i].e.nWaiting)
		}
	}
	return 0, true, nil
}

// sendDue routes the requests due by now to their workers: those that have arrived (open
// loop), or as many as the concurrency allows, arriving now (closed loop).
func (c *clusterReplay) sendDue(src *replayReader, now time.Duration) error {
	for {
		if err := src.pull(); err != nil {
			return err
		}
		q := src.pending
		if q == nil {
			return nil
		}
		if c.opt.Concurrency > 0 {
			if len(c.inflight) >= c.opt.Concurrency {
				return nil
			}
			q.arrival = now
		} else if q.arrival > now {
			return nil
		}
		c.send(q, max(q.arrival, 0))
		src.pending = nil
	}
}

// send routes q, arriving at at, and adds it to its worker's engine.
func (c *clusterReplay) send(q *seq, at time.Duration) {
	t := c.r.route(q.hashes, q.promptLen, q.maxTokens)
	c.inflight[q] = &replayReq{t: t}
	c.stats.Workers[t.worker].Requests++
	if err := c.ws[t.worker].e.add(q, at); err != nil {
		delete(c.inflight, q)
		c.r.finish(t)
		c.reject(q, err)
	}
}

// finish fills in the engines' totals.
func (c *clusterReplay) finish(now time.Duration) ClusterReplayStats {
	st := &c.stats
	for i := range c.ws {
		e := c.ws[i].e
		w := &st.Workers[i]
		w.Preemptions, w.Steps, w.Busy, w.Makespan = e.preemptions, e.steps, e.busy, e.lastStep
		st.addEngine(e)
	}
	st.Makespan = now
	st.Router = c.r.stats()
	return *st
}

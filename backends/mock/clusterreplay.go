package mock

import (
	"errors"
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
	// ReplayStats are the cluster's totals (Steps, Busy and Preemptions summed over workers).
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
	for _, s := range []*ReplayStats{&c.stats.ReplayStats, &c.stats.Workers[h.w]} {
		s.PromptTokens += int64(q.promptLen)
		s.CachedTokens += int64(q.cachedTokens)
		s.OutputTokens += int64(q.generated)
	}
	if c.each != nil {
		c.each(ClusterReplayResult{
			ReplayResult: ReplayResult{
				Index: q.tag, Arrival: q.arrival,
				PromptTokens: q.promptLen, CachedTokens: q.cachedTokens, OutputTokens: q.generated,
				Queue: q.scheduled - q.arrival, TTFT: q.firstToken - q.arrival, E2E: now - q.arrival,
				Preemptions: q.preemptions,
			},
			Worker: h.w, RouterOverlap: st.t.overlap, Tokens: st.tokens,
		})
	}
}

func (c *clusterReplay) reject(q *seq, err error) {
	c.stats.Rejected++
	if c.each != nil {
		c.each(ClusterReplayResult{ReplayResult: ReplayResult{Index: q.tag, Arrival: q.arrival, PromptTokens: q.promptLen, Err: err}, Worker: -1})
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
	c := &clusterReplay{opt: opt, each: each, inflight: map[*seq]*replayReq{}}
	c.stats.Workers = make([]ReplayStats, cfg.Workers)
	ws := make([]replayWorker, cfg.Workers)
	wcfg := cfg.Worker.withDefaults()
	wcfg.Faults = Faults{}
	c.r = newRouter(cfg.Router, cfg.Workers, wcfg.BlockSize)
	for i := range ws {
		wc := wcfg
		wc.Seed = wcfg.Seed + uint64(i)
		ws[i].e = newEngine(wc, clusterHooks{c, i})
		w := i
		ws[i].e.kv.onEvent = func(stored bool, h uint64) { c.r.event(w, stored, h) }
	}
	next, stop := iter.Pull2(reqs)
	defer stop()

	var (
		now     time.Duration
		pending *seq // read from reqs, not yet sent
		index   int
		eof     bool
	)
	pull := func() error {
		for pending == nil && !eof {
			r, err, ok := next()
			if !ok {
				eof = true
				return nil
			}
			if err != nil {
				return fmt.Errorf("replay cluster: request %d: %w", index, err)
			}
			q := newSeq(r.Tokens, r.MaxTokens, wcfg.BlockSize)
			q.tag, q.arrival = index, r.Arrival
			index++
			c.stats.Requests++
			if r.MaxTokens < 1 || len(r.Tokens) < 1 {
				c.reject(q, errors.New("empty prompt or max_tokens < 1"))
				continue
			}
			if len(r.Tokens)+r.MaxTokens > wcfg.MaxModelLen {
				c.reject(q, fmt.Errorf("%d prompt + %d output tokens > max_model_len %d", len(r.Tokens), r.MaxTokens, wcfg.MaxModelLen))
				continue
			}
			pending = q
		}
		return nil
	}
	send := func(q *seq, at time.Duration) error {
		t := c.r.route(q.hashes, q.promptLen, q.maxTokens)
		c.inflight[q] = &replayReq{t: t}
		c.stats.Workers[t.worker].Requests++
		if err := ws[t.worker].e.add(q, at); err != nil {
			delete(c.inflight, q)
			c.r.finish(t)
			c.reject(q, err)
		}
		return nil
	}
	const never = time.Duration(math.MaxInt64)
	for {
		if err := pull(); err != nil {
			return c.finish(ws, now), err
		}
		// The next event: an arrival (open loop) or the end of a step.
		t := never
		if pending != nil && opt.Concurrency == 0 {
			t = max(pending.arrival, now)
		}
		for i := range ws {
			if ws[i].busy {
				t = min(t, ws[i].end)
			}
		}
		if t == never {
			if pending != nil && len(c.inflight) < opt.Concurrency {
				t = now // closed loop: room to send at once
			} else {
				for i := range ws {
					if ws[i].e.hasWork() {
						return c.finish(ws, now), fmt.Errorf("replay cluster: worker %d stuck at %v with %d waiting", i, now, ws[i].e.nWaiting)
					}
				}
				break
			}
		}
		now = t
		for i := range ws {
			if w := &ws[i]; w.busy && w.end == now {
				w.busy = false
				w.e.commit(now)
			}
		}
		for {
			if err := pull(); err != nil {
				return c.finish(ws, now), err
			}
			if pending == nil {
				break
			}
			if opt.Concurrency > 0 {
				if len(c.inflight) >= opt.Concurrency {
					break
				}
				pending.arrival = now
			} else if pending.arrival > now {
				break
			}
			if err := send(pending, max(pending.arrival, 0)); err != nil {
				return c.finish(ws, now), err
			}
			pending = nil
		}
		for i := range ws {
			w := &ws[i]
			if w.busy || !w.e.hasWork() {
				continue
			}
			if d, ok := w.e.schedule(now); ok {
				w.busy, w.end = true, now+d
			}
		}
	}
	return c.finish(ws, now), nil
}

// finish fills in the engines' totals.
func (c *clusterReplay) finish(ws []replayWorker, now time.Duration) ClusterReplayStats {
	st := &c.stats
	for i := range ws {
		e := ws[i].e
		w := &st.Workers[i]
		w.Preemptions, w.Steps, w.Busy, w.Makespan = e.preemptions, e.steps, e.busy, e.lastStep
		st.Preemptions += e.preemptions
		st.Steps += e.steps
		st.Busy += e.busy
	}
	st.Makespan = now
	st.Router = c.r.stats()
	return *st
}

package mock

import (
	"errors"
	"fmt"
	"iter"
	"time"
)

// ReplayRequest is one request of an offline replay.
type ReplayRequest struct {
	// Arrival is when the request arrives, from the start of the replay.
	Arrival time.Duration
	// Tokens is the prompt as token ids.
	Tokens []int
	// MaxTokens is the exact number of tokens to generate.
	MaxTokens int
}

// ReplayResult is the simulated outcome of one request, on the virtual clock.
type ReplayResult struct {
	// Index is the request's position in the replay, from 0.
	Index int
	// Arrival is when the request arrived.
	Arrival time.Duration
	// PromptTokens, CachedTokens and OutputTokens are as a server's usage reports them.
	PromptTokens, CachedTokens, OutputTokens int
	// Queue is the time from arrival to the request's first scheduling; TTFT to its first
	// token; E2E to its last token.
	Queue, TTFT, E2E time.Duration
	// Preemptions counts how often the request was preempted.
	Preemptions int
	// Err is set for a request the engine rejected (too long for MaxModelLen or bad).
	Err error
}

// ReplayStats sums up a replay.
type ReplayStats struct {
	// Requests counts requests read, Rejected those the engine refused.
	Requests, Rejected int
	// PromptTokens, CachedTokens and OutputTokens sum the completed requests' usage.
	PromptTokens, CachedTokens, OutputTokens int64
	// Preemptions counts preemptions; Steps counts engine steps.
	Preemptions, Steps int64
	// Makespan is the virtual time from 0 to the last token.
	Makespan time.Duration
	// Busy is the sum of step times (Makespan less idle time).
	Busy time.Duration
}

// HitRatio is the fraction of prompt tokens served from the prefix cache.
func (s ReplayStats) HitRatio() float64 {
	if s.PromptTokens == 0 {
		return 0
	}
	return float64(s.CachedTokens) / float64(s.PromptTokens)
}

// Replay runs requests through the engine on a virtual clock: no sleeping, so a trace of an
// hour simulates in seconds, and the outcome is deterministic for a given Config
// (SpeedupRatio, Noise and Seed apply; StartupDelay and Faults do not). Requests must
// come in arrival order; each result is passed to each (which may be nil) as its request
// finishes. Prompts are hashed on arrival and not kept, so memory grows with the requests
// in the engine, not with the trace.
func Replay(cfg Config, reqs iter.Seq2[ReplayRequest, error], each func(ReplayResult)) (ReplayStats, error) {
	if err := cfg.Validate(); err != nil {
		return ReplayStats{}, fmt.Errorf("replay: %w", err)
	}
	cfg.Faults = Faults{}
	rh := &replayHooks{each: each}
	e := newEngine(cfg, rh)
	next, stop := iter.Pull2(reqs)
	defer stop()

	var (
		now     time.Duration
		pending *seq // read from reqs, not yet arrived
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
				return fmt.Errorf("replay: request %d: %w", index, err)
			}
			q := e.newSeq(r.Tokens, r.MaxTokens)
			q.tag, q.arrival = index, r.Arrival
			index++
			rh.stats.Requests++
			if r.MaxTokens < 1 || len(r.Tokens) < 1 {
				rh.reject(q, errors.New("empty prompt or max_tokens < 1"))
				continue
			}
			if len(r.Tokens)+r.MaxTokens > e.cfg.MaxModelLen {
				rh.reject(q, fmt.Errorf("%d prompt + %d output tokens > max_model_len %d", len(r.Tokens), r.MaxTokens, e.cfg.MaxModelLen))
				continue
			}
			pending = q
		}
		return nil
	}
	for {
		// Admit everything that has arrived by now.
		for {
			if err := pull(); err != nil {
				return rh.stats, err
			}
			if pending == nil || pending.arrival > now {
				break
			}
			if err := e.add(pending, max(pending.arrival, 0)); err != nil {
				rh.reject(pending, err)
			}
			pending = nil
		}
		if !e.hasWork() {
			if pending == nil {
				break
			}
			now = pending.arrival
			continue
		}
		d, ok := e.schedule(now)
		if !ok {
			if pending == nil {
				return rh.stats, fmt.Errorf("replay: engine stuck at %v with %d waiting", now, e.nWaiting)
			}
			now = pending.arrival
			continue
		}
		now += d
		e.commit(now)
	}
	rh.stats.Preemptions = e.preemptions
	rh.stats.Steps = e.steps
	rh.stats.Busy = e.busy
	rh.stats.Makespan = now
	return rh.stats, nil
}

type replayHooks struct {
	each  func(ReplayResult)
	stats ReplayStats
}

func (h *replayHooks) reject(q *seq, err error) {
	h.stats.Rejected++
	if h.each != nil {
		h.each(ReplayResult{Index: q.tag, Arrival: q.arrival, PromptTokens: q.promptLen, Err: err})
	}
}

func (h *replayHooks) admitted(*seq, time.Duration)  {}
func (h *replayHooks) token(*seq, time.Duration)     {}
func (h *replayHooks) preempted(*seq, time.Duration) {}

func (h *replayHooks) finished(q *seq, now time.Duration, why finishReason) {
	h.stats.PromptTokens += int64(q.promptLen)
	h.stats.CachedTokens += int64(q.cachedTokens)
	h.stats.OutputTokens += int64(q.generated)
	if h.each != nil {
		h.each(ReplayResult{
			Index: q.tag, Arrival: q.arrival,
			PromptTokens: q.promptLen, CachedTokens: q.cachedTokens, OutputTokens: q.generated,
			Queue: q.scheduled - q.arrival, TTFT: q.firstToken - q.arrival, E2E: now - q.arrival,
			Preemptions: q.preemptions,
		})
	}
}

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
	// Drafts, DraftTokens and AcceptedTokens are vLLM's speculative decoding counters
	// (zero without Config.Speculative).
	Drafts, DraftTokens, AcceptedTokens int64
}

// addEngine adds the totals of an engine that has run to s.
func (s *ReplayStats) addEngine(e *engine) {
	s.Preemptions += e.preemptions
	s.Steps += e.steps
	s.Busy += e.busy
	s.Drafts += e.spec.drafts
	s.DraftTokens += e.spec.draftTokens
	s.AcceptedTokens += e.spec.accepted
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
	src := newReplayReader(reqs, "replay", e.bs, e.cfg.MaxModelLen, &rh.stats.Requests, rh.reject)
	defer src.stop()

	var now time.Duration
	for {
		// Admit everything that has arrived by now.
		for {
			if err := src.pull(); err != nil {
				return rh.stats, err
			}
			if src.pending == nil || src.pending.arrival > now {
				break
			}
			if err := e.add(src.pending, max(src.pending.arrival, 0)); err != nil {
				rh.reject(src.pending, err)
			}
			src.pending = nil
		}
		if !e.hasWork() {
			if src.pending == nil {
				break
			}
			now = src.pending.arrival
			continue
		}
		d, ok := e.schedule(now)
		if !ok {
			if src.pending == nil {
				return rh.stats, fmt.Errorf("replay: engine stuck at %v with %d waiting", now, e.nWaiting)
			}
			now = src.pending.arrival
			continue
		}
		now += d
		e.commit(now)
	}
	rh.stats.addEngine(e)
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
		h.each(rejected(q, err))
	}
}

func (h *replayHooks) admitted(*seq, time.Duration)  {}
func (h *replayHooks) token(*seq, time.Duration)     {}
func (h *replayHooks) preempted(*seq, time.Duration) {}

func (h *replayHooks) finished(q *seq, now time.Duration, why finishReason) {
	h.stats.add(q)
	if h.each != nil {
		h.each(finished(q, now))
	}
}

// add counts the usage of q, finished, in s.
func (s *ReplayStats) add(q *seq) {
	s.PromptTokens += int64(q.promptLen)
	s.CachedTokens += int64(q.cachedTokens)
	s.OutputTokens += int64(q.generated)
}

// finished is the result of q, finished at now.
func finished(q *seq, now time.Duration) ReplayResult {
	return ReplayResult{
		Index: int(q.tag), Arrival: q.arrival,
		PromptTokens: q.promptLen, CachedTokens: q.cachedTokens, OutputTokens: q.generated,
		Queue: q.scheduled - q.arrival, TTFT: q.firstToken - q.arrival, E2E: now - q.arrival,
		Preemptions: int(q.preemptions),
	}
}

// rejected is the result of q, refused with err.
func rejected(q *seq, err error) ReplayResult {
	return ReplayResult{Index: int(q.tag), Arrival: q.arrival, PromptTokens: q.promptLen, Err: err}
}

// replayReader reads a replay's requests one ahead: each becomes a sequence with its index
// and arrival, and the ones no engine would take are rejected before they reach one.
type replayReader struct {
	next        func() (ReplayRequest, error, bool)
	stop        func()
	what        string // "replay" or "replay cluster", in errors
	blockSize   int
	maxModelLen int
	requests    *int // the replay's count of requests read
	reject      func(*seq, error)

	pending *seq // read, not yet sent to an engine
	index   int
	eof     bool
}

func newReplayReader(reqs iter.Seq2[ReplayRequest, error], what string, blockSize, maxModelLen int, requests *int, reject func(*seq, error)) *replayReader {
	next, stop := iter.Pull2(reqs)
	return &replayReader{next: next, stop: stop, what: what, blockSize: blockSize, maxModelLen: maxModelLen, requests: requests, reject: reject}
}

// pull reads requests until one is pending or there are no more.
func (r *replayReader) pull() error {
	for r.pending == nil && !r.eof {
		req, err, ok := r.next()
		if !ok {
			r.eof = true
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: request %d: %w", r.what, r.index, err)
		}
		q := newSeq(req.Tokens, req.MaxTokens, r.blockSize)
		q.tag, q.arrival = int32(r.index), req.Arrival
		r.index++
		*r.requests++
		if req.MaxTokens < 1 || len(req.Tokens) < 1 {
			r.reject(q, errors.New("empty prompt or max_tokens < 1"))
			continue
		}
		if len(req.Tokens)+req.MaxTokens > r.maxModelLen {
			r.reject(q, fmt.Errorf("%d prompt + %d output tokens > max_model_len %d", len(req.Tokens), req.MaxTokens, r.maxModelLen))
			continue
		}
		r.pending = q
	}
	return nil
}

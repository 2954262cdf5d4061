package mock

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// hooks receive the engine's events. They are called with the engine lock held and must
// not block or allocate per token.
type hooks interface {
	admitted(s *seq, now time.Duration)
	token(s *seq, now time.Duration)
	finished(s *seq, now time.Duration, why finishReason)
	preempted(s *seq, now time.Duration)
}

type schedItem struct {
	s     *seq
	n     int32 // tokens scheduled for s in this step (its draft tokens included)
	draft int32 // draft tokens of a speculative decode step
}

// engine is the iteration-level scheduler. It is a state machine driven by a clock loop
// (real time in Server, virtual time in Replay); it is not safe for concurrent use.
type engine struct {
	cfg    Config
	prof   Profile
	kv     *kvCache
	hooks  hooks
	noise  *rand.Rand
	ready  time.Duration // engine time the server became ready (slow start counts from it)
	bs     int
	capTok float64 // KV capacity in tokens (0: unlimited)

	waiting  deque
	nWaiting int // waiting sequences not cancelled
	running  []*seq
	order    []*seq // snapshot of running for one scheduling pass
	sched    []schedItem
	step     uint64
	cancels  int // cancelled sequences not yet swept from running
	lastStep time.Duration

	// Speculative decoding: draft length, acceptance per position, drafting cost.
	k         int
	accept    []float64
	draftCost float64
	onceMS    float64 // one-off costs of the sequences admitted in the step being planned
	plain     bool    // no feature changes a step's cost: the step time is the profile's

	// Totals.
	queries, hits, promptTokens, genTokens, preemptions, steps int64
	busy                                                       time.Duration // sum of step times
	spec                                                       specTotals
}

// specTotals are vLLM's speculative decoding counters.
type specTotals struct {
	drafts, draftTokens, accepted int64
	perPos                        []int64 // accepted tokens by draft position
}

func newEngine(cfg Config, h hooks) *engine {
	cfg = cfg.withDefaults()
	limit := cfg.NumGPUBlocks
	capTok := float64(cfg.NumGPUBlocks * cfg.BlockSize)
	if cfg.UnlimitedKVCache {
		limit, capTok = maxBlocks, 0
	}
	e := &engine{
		cfg:    cfg,
		prof:   cfg.Profile,
		kv:     newKVCache(limit, !cfg.DisablePrefixCaching, !cfg.UnlimitedKVCache),
		hooks:  h,
		bs:     cfg.BlockSize,
		capTok: capTok,
	}
	if cfg.Noise > 0 {
		e.noise = rand.New(rand.NewPCG(cfg.Seed, 0x6e6f697365))
	}
	if sp := cfg.Speculative; sp.NumSpeculativeTokens > 0 {
		e.k, e.accept, e.draftCost = sp.NumSpeculativeTokens, sp.rates(), sp.draftCost()
		e.spec.perPos = make([]int64, e.k)
	}
	e.plain = e.k == 0 && cfg.Reasoning.Slowdown == 1 && cfg.StructuredOutput.TokenMS == 0
	return e
}

// errTooLong rejects a request that could never fit.
var errTooLong = errors.New("request does not fit in max_model_len")

// newSeq builds a sequence from a token-id prompt, hashing its full blocks.
func (e *engine) newSeq(tokens []int, maxTokens int) *seq {
	return newSeq(tokens, maxTokens, e.bs)
}

// add queues a sequence that arrived at now.
func (e *engine) add(s *seq, now time.Duration) error {
	if s.promptLen < 1 || s.maxTokens < 0 || (s.maxTokens == 0) != s.pool {
		return fmt.Errorf("add request: prompt and max_tokens must be >= 1")
	}
	if s.promptLen+s.maxTokens > e.cfg.MaxModelLen {
		return fmt.Errorf("add request: %d prompt + %d output tokens > %d: %w", s.promptLen, s.maxTokens, e.cfg.MaxModelLen, errTooLong)
	}
	s.arrival = now
	s.state = stateWaiting
	s.rng ^= e.cfg.Seed * 0x9e3779b97f4a7c15
	e.waiting.pushBack(s)
	e.nWaiting++
	return nil
}

// cancel removes a sequence; its blocks are released at the next scheduling pass (or now,
// if it is waiting).
func (e *engine) cancel(s *seq, now time.Duration) {
	if s.cancelled || s.state == stateFinished || s.state == stateNew {
		return
	}
	s.cancelled = true
	switch s.state {
	case stateWaiting:
		e.nWaiting--
		e.kv.release(s.blocks) // normally none
		s.blocks = s.blocks[:0]
		s.state = stateFinished
		s.finished = now
		e.hooks.finished(s, now, finishAbort)
	case stateRunning:
		e.cancels++
	}
}

func (e *engine) hasWork() bool { return len(e.running) > 0 || e.nWaiting > 0 }

func (e *engine) blocksFor(tokens int) int { return (tokens + e.bs - 1) / e.bs }

// preempt sends a running sequence back to the head of the waiting queue, freeing its
// blocks; it will recompute prompt and output so far (vLLM's recompute preemption).
func (e *engine) preempt(s *seq, now time.Duration) {
	e.kv.release(s.blocks)
	s.blocks = s.blocks[:0]
	s.computed, s.hashedBlocks = 0, 0
	s.state = stateWaiting
	s.preemptions++
	e.preemptions++
	for i, r := range e.running {
		if r == s {
			e.running = append(e.running[:i], e.running[i+1:]...)
			break
		}
	}
	e.waiting.pushFront(s)
	e.nWaiting++
	e.hooks.preempted(s, now)
}

// reserve allocates the blocks s needs to compute n more tokens, preempting the most
// recently admitted sequences not scheduled in this step when blocks run out. It reports
// false if s itself had to be preempted.
func (e *engine) reserve(s *seq, n int, now time.Duration) bool {
	need := e.blocksFor(s.computed+n) - len(s.blocks)
	for e.kv.available() < need {
		var victim *seq
		for i := len(e.running) - 1; i >= 0; i-- {
			if r := e.running[i]; r != s && r.schedStep != e.step {
				victim = r
				break
			}
		}
		if victim == nil {
			e.preempt(s, now)
			return false
		}
		e.preempt(victim, now)
	}
	for range need {
		s.blocks = append(s.blocks, e.kv.alloc())
	}
	s.schedStep = e.step
	e.sched = append(e.sched, schedItem{s: s, n: int32(n)})
	return true
}

func (e *engine) sweep(now time.Duration) {
	if e.cancels == 0 {
		return
	}
	k := 0
	for _, s := range e.running {
		if s.cancelled {
			e.kv.release(s.blocks)
			s.blocks = s.blocks[:0]
			s.state = stateFinished
			s.finished = now
			e.hooks.finished(s, now, finishAbort)
			continue
		}
		e.running[k] = s
		k++
	}
	clear(e.running[k:])
	e.running = e.running[:k]
	e.cancels = 0
}

// schedule plans one step starting at now and returns its duration; ok is false when there
// was nothing to schedule.
func (e *engine) schedule(now time.Duration) (d time.Duration, ok bool) {
	e.sweep(now)
	e.step++
	e.sched = e.sched[:0]
	preemptions := e.preemptions
	budget := e.scheduleRunning(e.cfg.MaxNumBatchedTokens, now)
	e.admitWaiting(budget, preemptions, now)
	if len(e.sched) == 0 {
		return 0, false
	}
	d = e.stepTime(now)
	e.steps++
	e.busy += d
	return d, true
}

// scheduleRunning gives the running sequences their share of the step's token budget and
// returns what is left: first one token for every sequence that decodes, then chunked
// prefill (or recompute) of the others.
func (e *engine) scheduleRunning(budget int, now time.Duration) int {
	e.order = append(e.order[:0], e.running...)
	// 1. Decodes: one token for every running sequence that has caught up.
	for _, s := range e.order {
		if budget == 0 {
			break
		}
		if s.state != stateRunning || s.generated == 0 || s.computed != s.total()-1 {
			continue
		}
		n := 1
		if e.k > 0 {
			n = min(1+e.drafts(s), budget)
		}
		if e.reserve(s, n, now) {
			e.sched[len(e.sched)-1].draft = int32(n - 1)
			budget -= n
		}
	}
	// 2. Chunked prefill (or recompute) of running sequences.
	for _, s := range e.order {
		if budget == 0 {
			break
		}
		if s.state != stateRunning || s.schedStep == e.step {
			continue
		}
		n := min(s.total()-s.computed, budget)
		if e.reserve(s, n, now) {
			budget -= n
		}
	}
	clear(e.order)
	return budget
}

// admitWaiting admits waiting sequences in FIFO order while the budget, max_num_seqs and
// the KV blocks allow, unless this step had to preempt (the engine's preemption count is
// no longer preemptions), as vLLM does.
func (e *engine) admitWaiting(budget int, preemptions int64, now time.Duration) {
	for e.preemptions == preemptions && budget > 0 && len(e.running) < e.cfg.MaxNumSeqs && e.waiting.len() > 0 {
		s := e.waiting.front()
		if s.cancelled || s.state != stateWaiting {
			e.waiting.popFront()
			continue
		}
		if s.arrival > now {
			break // arrived after this step began (a real-clock step that started late)
		}
		if !e.admit(s, budget, now) {
			break // head of line waits for blocks
		}
		e.waiting.popFront()
		e.nWaiting--
		budget -= int(e.sched[len(e.sched)-1].n)
	}
}

// admit tries to start a waiting sequence with at most budget tokens, taking its cached
// prefix from the prefix cache.
func (e *engine) admit(s *seq, budget int, now time.Duration) bool {
	total := s.total()
	hitBlocks, hitFree := 0, 0
	if e.kv.caching {
		maxHit := min((total-1)/e.bs, len(s.hashes))
		for hitBlocks < maxHit {
			id, ok := e.kv.lookup(s.hashes[hitBlocks])
			if !ok {
				break
			}
			if e.kv.blocks[id].ref == 0 {
				hitFree++
			}
			s.blocks = append(s.blocks, id)
			hitBlocks++
		}
	}
	hit := hitBlocks * e.bs
	n := min(total-hit, budget)
	need := e.blocksFor(hit+n) - hitBlocks
	if e.kv.available()-hitFree < need {
		s.blocks = s.blocks[:0]
		return false
	}
	for _, id := range s.blocks {
		e.kv.acquire(id)
	}
	for range need {
		s.blocks = append(s.blocks, e.kv.alloc())
	}
	s.computed, s.hashedBlocks = hit, hitBlocks
	s.state = stateRunning
	s.schedStep = e.step
	e.running = append(e.running, s)
	e.sched = append(e.sched, schedItem{s: s, n: int32(n)})
	if s.preemptions == 0 {
		e.onceMS += float64(s.onceMS)
		s.cachedTokens = hit
		s.scheduled = now
		e.queries += int64(s.promptLen)
		e.hits += int64(hit)
		e.promptTokens += int64(s.promptLen)
		e.hooks.admitted(s, now)
	}
	return true
}

// commit ends the step planned by schedule at time now: KV is computed, full prompt blocks
// enter the prefix cache, caught-up sequences emit their tokens (one, or more when draft
// tokens were accepted), finished ones leave.
func (e *engine) commit(now time.Duration) {
	finished := false
	for i := range e.sched {
		s, n := e.sched[i].s, int(e.sched[i].n)
		e.sched[i].s = nil
		if s.state != stateRunning || s.cancelled {
			continue
		}
		emit := 1
		if d := int(e.sched[i].draft); d > 0 {
			emit += e.verify(s, d)
			n = emit // the rejected drafts' KV is dropped
		}
		s.computed += n
		full := min(s.computed/e.bs, len(s.hashes))
		for ; s.hashedBlocks < full; s.hashedBlocks++ {
			e.kv.register(s.blocks[s.hashedBlocks], s.hashes[s.hashedBlocks])
		}
		if s.computed < s.total() {
			continue
		}
		if !s.pool {
			s.generated += emit
			s.stepTokens = int32(emit)
			e.genTokens += int64(emit)
			if s.generated == emit {
				s.firstToken = now
			}
			e.hooks.token(s, now)
			s.lastToken = now
		}
		if s.pool || s.generated >= s.maxTokens {
			e.finish(s, now)
			finished = true
		}
	}
	e.sched = e.sched[:0]
	if finished {
		k := 0
		for _, s := range e.running {
			if s.state == stateRunning {
				e.running[k] = s
				k++
			}
		}
		clear(e.running[k:])
		e.running = e.running[:k]
	}
	e.lastStep = now
}

// finish ends s at now, its output complete.
func (e *engine) finish(s *seq, now time.Duration) {
	e.kv.release(s.blocks)
	s.blocks = s.blocks[:0]
	s.state = stateFinished
	s.finished = now
	why := finishLength
	if s.stop || s.pool {
		why = finishStop
	}
	e.hooks.finished(s, now, why)
}

// kvUsage is the fraction of KV blocks referenced by running sequences.
func (e *engine) kvUsage() float64 {
	if e.capTok == 0 {
		return 0
	}
	return float64(e.kv.used()) / float64(e.kv.limit)
}

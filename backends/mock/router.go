package mock

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
)

// RouterPolicy is how a cluster's router picks the worker of a request.
type RouterPolicy string

// Router policies, named as Dynamo's frontend names its --router-mode values.
const (
	// RouteRoundRobin sends request i to worker i mod N.
	RouteRoundRobin RouterPolicy = "round-robin"
	// RouteRandom picks a worker uniformly at random (seeded).
	RouteRandom RouterPolicy = "random"
	// RouteLeastLoaded picks the worker with the fewest requests in flight (ties at random).
	RouteLeastLoaded RouterPolicy = "least-loaded"
	// RouteKV is Dynamo's KV-aware router: it scores each worker by the prefill work the
	// request would cost there, after the prompt blocks that worker already caches, against
	// the blocks its requests in flight hold, and picks the cheapest (see RouterConfig).
	RouteKV RouterPolicy = "kv"
)

// RouterPolicies lists the policies, in the order tools show them.
var RouterPolicies = []RouterPolicy{RouteKV, RouteRoundRobin, RouteRandom, RouteLeastLoaded}

// DefaultOverlapWeight is Dynamo's default --kv-overlap-score-weight.
const DefaultOverlapWeight = 1.0

// RouterConfig configures a cluster's router. The zero value is round robin.
//
// The KV policy computes, for every worker w, Dynamo's cost (lower is better)
//
//	logit(w) = OverlapWeight * prefill_blocks(w) + active_blocks(w)
//	prefill_blocks(w) = (pending(w) + prompt_tokens - overlap(w)*BlockSize) / BlockSize
//
// where overlap(w) is the number of leading prompt blocks worker w caches, as the router
// knows it from the KV events the workers publish (a block stored in a worker's prefix
// cache, a block evicted from it), pending(w) the uncached prompt tokens of requests routed
// to w that have not had their first token yet, and active_blocks(w) the KV blocks the
// requests in flight on w would hold with this one added (prompt blocks shared by several
// counted once, output blocks reserved), both from the router's own book of the requests
// it routed. Temperature 0 picks the lowest logit (ties
// at random); above 0 it samples a worker with probability proportional to
// exp(-normalized logit / Temperature), the logits normalized to [0, 1], as Dynamo's
// softmax_sample does.
type RouterConfig struct {
	// Policy is the routing policy ("" means RouteRoundRobin).
	Policy RouterPolicy
	// OverlapWeight weighs prefill blocks against active blocks in the KV policy (0 means
	// DefaultOverlapWeight). RouteLeastLoaded is the choice that ignores the caches.
	OverlapWeight float64
	// Temperature is the KV policy's softmax temperature (0: pick the cheapest).
	Temperature float64
	// Seed seeds the random policy and random tie breaks.
	Seed uint64
}

func (c RouterConfig) withDefaults() RouterConfig {
	if c.Policy == "" {
		c.Policy = RouteRoundRobin
	}
	if c.OverlapWeight == 0 {
		c.OverlapWeight = DefaultOverlapWeight
	}
	return c
}

// Validate reports every problem with the router configuration at once.
func (c RouterConfig) Validate() error {
	c = c.withDefaults()
	var errs []error
	switch c.Policy {
	case RouteRoundRobin, RouteRandom, RouteLeastLoaded, RouteKV:
	default:
		errs = append(errs, fmt.Errorf("router policy %q is not one of kv, round-robin, random, least-loaded", c.Policy))
	}
	if !(c.OverlapWeight > 0) || math.IsInf(c.OverlapWeight, 0) {
		errs = append(errs, fmt.Errorf("router OverlapWeight must be > 0 and finite, got %g", c.OverlapWeight))
	}
	if !(c.Temperature >= 0) || math.IsInf(c.Temperature, 0) {
		errs = append(errs, fmt.Errorf("router Temperature must be >= 0 and finite, got %g", c.Temperature))
	}
	return errors.Join(errs...)
}

// ParseRouterPolicy reads a policy name as Dynamo's --router-mode spells it.
func ParseRouterPolicy(s string) (RouterPolicy, error) {
	for _, p := range RouterPolicies {
		if string(p) == s {
			return p, nil
		}
	}
	return "", fmt.Errorf("unknown router policy %q (want kv, round-robin, random or least-loaded)", s)
}

// workerBook is what the router knows of one worker from the requests it routed there.
type workerBook struct {
	active       hashTab[int32] // prompt block hash -> requests in flight holding it
	activeBlocks int            // distinct prompt blocks + own blocks of requests in flight
	pending      int            // uncached prompt tokens of requests before their first token
	inflight     int

	routed, overlapBlocks, promptBlocks int64
}

// ticket is one routed request in the router's book.
type ticket struct {
	worker    int
	hashes    []uint64
	own       int // blocks of the request no other can share: partial prompt block, output
	pending   int // its uncached prompt tokens, until the first token
	overlap   int // blocks the router expected the worker to hold
	prefilled bool
	done      bool
}

// router picks workers and keeps their books. It is safe for concurrent use: the HTTP
// cluster calls it from request handlers and, through the KV events, from the workers'
// engine loops (with their locks held: the router never takes a worker's lock).
type router struct {
	mu     sync.Mutex
	shared bool // used from several goroutines (the HTTP cluster): lock mu
	cfg    RouterConfig
	bs     int
	index  *kvIndex
	rng    *rand.Rand
	next   int
	books  []workerBook

	overlap []int // scratch
	logits  []float64
	ties    []int
}

func newRouter(cfg RouterConfig, workers, blockSize int) *router {
	r := &router{
		cfg:     cfg.withDefaults(),
		bs:      blockSize,
		index:   newKVIndex(),
		rng:     rand.New(rand.NewPCG(cfg.Seed, 0x726f75746572)),
		books:   make([]workerBook, workers),
		overlap: make([]int, workers),
		logits:  make([]float64, workers),
	}
	return r
}

func (r *router) lock() {
	if r.shared {
		r.mu.Lock()
	}
}

func (r *router) unlock() {
	if r.shared {
		r.mu.Unlock()
	}
}

// event applies one KV event published by worker w.
func (r *router) event(w int, stored bool, h uint64) {
	r.lock()
	r.index.apply(w, stored, h)
	r.unlock()
}

// route picks the worker of a request whose full prompt blocks have the chained hashes
// given, and books it there.
func (r *router) route(hashes []uint64, promptLen, maxTokens int) *ticket {
	r.lock()
	defer r.unlock()
	n := len(r.books)
	w := 0
	switch r.cfg.Policy {
	case RouteRoundRobin:
		w = r.next % n
		r.next++
		r.index.overlaps(hashes, r.overlap)
	case RouteRandom:
		w = r.rng.IntN(n)
		r.index.overlaps(hashes, r.overlap)
	case RouteLeastLoaded:
		r.index.overlaps(hashes, r.overlap)
		for i := range r.logits {
			r.logits[i] = float64(r.books[i].inflight)
		}
		w = r.pick(0)
	case RouteKV:
		r.index.overlaps(hashes, r.overlap)
		bs := float64(r.bs)
		own := (promptLen+maxTokens+r.bs-1)/r.bs - len(hashes)
		for i := range r.books {
			b := &r.books[i]
			uncached := promptLen - min(r.overlap[i], max(promptLen-1, 0)/r.bs)*r.bs
			// The blocks w would hold with the request: its own, and its prompt blocks
			// beyond the leading run already active there.
			shared := 0
			for _, h := range hashes {
				if n, _ := b.active.get(h); n == 0 {
					break
				}
				shared++
			}
			r.logits[i] = r.cfg.OverlapWeight*float64(b.pending+uncached)/bs + float64(b.activeBlocks+len(hashes)-shared+own)
		}
		w = r.pick(r.cfg.Temperature)
	}
	ov := min(r.overlap[w], max(promptLen-1, 0)/r.bs) // an engine computes a prompt's last token
	t := &ticket{worker: w, hashes: hashes, overlap: ov, pending: max(promptLen-ov*r.bs, 0)}
	t.own = (promptLen+maxTokens+r.bs-1)/r.bs - len(hashes)
	b := &r.books[w]
	for _, h := range hashes {
		if c := b.active.ref(h); *c == 0 {
			*c = 1
			b.activeBlocks++
		} else {
			*c++
		}
	}
	b.activeBlocks += t.own
	b.pending += t.pending
	b.inflight++
	b.routed++
	b.overlapBlocks += int64(ov)
	b.promptBlocks += int64(len(hashes))
	return t
}

// pick returns the worker with the lowest logit (ties at random) at temperature 0, else a
// softmax sample over the normalized logits.
func (r *router) pick(temperature float64) int {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range r.logits {
		lo, hi = min(lo, v), max(hi, v)
	}
	if temperature == 0 || lo == hi {
		r.ties = r.ties[:0]
		for i, v := range r.logits {
			if v == lo {
				r.ties = append(r.ties, i)
			}
		}
		if len(r.ties) == 1 {
			return r.ties[0]
		}
		return r.ties[r.rng.IntN(len(r.ties))]
	}
	sum := 0.0
	for i, v := range r.logits {
		r.logits[i] = math.Exp(-(v - lo) / (hi - lo) / temperature)
		sum += r.logits[i]
	}
	u := r.rng.Float64() * sum
	for i, p := range r.logits {
		if u < p {
			return i
		}
		u -= p
	}
	return len(r.logits) - 1
}

// firstToken tells the router that t's prefill is done.
func (r *router) firstToken(t *ticket) {
	r.lock()
	defer r.unlock()
	if !t.prefilled && !t.done {
		t.prefilled = true
		r.books[t.worker].pending -= t.pending
	}
}

// finish takes t out of the book (finished, failed or cancelled).
func (r *router) finish(t *ticket) {
	r.lock()
	defer r.unlock()
	if t.done {
		return
	}
	t.done = true
	b := &r.books[t.worker]
	if !t.prefilled {
		b.pending -= t.pending
	}
	for _, h := range t.hashes {
		c := b.active.ref(h)
		if *c--; *c <= 0 {
			b.active.del(h)
			b.activeBlocks--
		}
	}
	b.activeBlocks -= t.own
	b.inflight--
}

// RouterStats is what a router did, per worker.
type RouterStats struct {
	// Routed counts the requests sent to the worker.
	Routed int64
	// OverlapBlocks sums, over those requests, the prompt blocks the router expected the
	// worker to hold when it chose it; PromptBlocks sums their full prompt blocks.
	OverlapBlocks, PromptBlocks int64
}

func (r *router) stats() []RouterStats {
	r.lock()
	defer r.unlock()
	out := make([]RouterStats, len(r.books))
	for i, b := range r.books {
		out[i] = RouterStats{Routed: b.routed, OverlapBlocks: b.overlapBlocks, PromptBlocks: b.promptBlocks}
	}
	return out
}

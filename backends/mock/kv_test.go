package mock

import (
	"math/rand/v2"
	"testing"
	"time"
)

// Freed blocks are evicted least recently freed first and, within a request, last block
// first, so a shared prefix outlives the suffixes that hang off it.
func TestEvictionSuffixesBeforePrefixes(t *testing.T) {
	c := newKVCache(4, true, true)
	ids := []int32{c.alloc(), c.alloc(), c.alloc()}
	for i, id := range ids {
		c.register(id, uint64(100+i))
	}
	c.release(ids)
	if c.available() != 4 || c.used() != 0 {
		t.Fatalf("available %d used %d", c.available(), c.used())
	}
	fresh := c.alloc() // the never-used block goes first
	if fresh != 3 {
		t.Fatalf("first alloc = %d, want the fresh block 3", fresh)
	}
	for _, want := range []int32{2, 1, 0} { // then suffix to prefix
		if got := c.alloc(); got != want {
			t.Fatalf("evicted %d, want %d", got, want)
		}
		if _, ok := c.lookup(uint64(100 + want)); ok {
			t.Fatalf("block %d still findable after eviction", want)
		}
	}
}

func TestCacheHitTakesBlockOffFreeList(t *testing.T) {
	c := newKVCache(2, true, true)
	a := c.alloc()
	c.register(a, 7)
	c.release([]int32{a})
	id, ok := c.lookup(7)
	if !ok || id != a {
		t.Fatal("lost cached block")
	}
	c.acquire(id)
	if c.available() != 1 {
		t.Fatalf("available %d after hit, want 1", c.available())
	}
	b := c.alloc()
	if b == a {
		t.Fatal("allocated a referenced block")
	}
}

// A KV cache too small for every sequence at once preempts (recompute) and still finishes
// every request with its exact output length.
func TestPreemption(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	var reqs []ReplayRequest
	for range 16 {
		reqs = append(reqs, ReplayRequest{Tokens: randTokens(rng, 100), MaxTokens: 200})
	}
	// 16 sequences need 16*300/16 = 300 blocks at the end; give them 64.
	res, st := replaySlice(t, Config{NumGPUBlocks: 64, MaxModelLen: 1024}, reqs)
	if st.Preemptions == 0 {
		t.Fatal("no preemptions")
	}
	for _, r := range res {
		if r.OutputTokens != 200 || r.Err != nil {
			t.Fatalf("request %d: %+v", r.Index, r)
		}
	}
	t.Logf("%+v", st)
}

// A cancelled request leaves the engine and releases its KV blocks.
func TestCancelReleasesBlocks(t *testing.T) {
	e := newEngine(Config{NumGPUBlocks: 64, MaxModelLen: 1024}, nopHooks{})
	rng := rand.New(rand.NewPCG(9, 10))
	a := e.newSeq(randTokens(rng, 300), 100)
	b := e.newSeq(randTokens(rng, 300), 100)
	for _, q := range []*seq{a, b} {
		if err := e.add(q, 0); err != nil {
			t.Fatal(err)
		}
	}
	var now time.Duration
	for range 3 {
		d, _ := e.schedule(now)
		now += d
		e.commit(now)
	}
	if e.kv.used() == 0 || len(e.running) != 2 {
		t.Fatalf("used %d running %d", e.kv.used(), len(e.running))
	}
	e.cancel(a, now)
	e.cancel(b, now)
	if _, ok := e.schedule(now); ok {
		t.Fatal("scheduled after cancelling everything")
	}
	if e.kv.used() != 0 || e.hasWork() {
		t.Fatalf("after cancel: %d blocks used, work %v", e.kv.used(), e.hasWork())
	}
	// The prompt blocks stay cached for the next request.
	if len(e.kv.table) != 2*(300/16) {
		t.Fatalf("cached blocks %d", len(e.kv.table))
	}
}

type nopHooks struct{}

func (nopHooks) admitted(*seq, time.Duration)               {}
func (nopHooks) token(*seq, time.Duration)                  {}
func (nopHooks) finished(*seq, time.Duration, finishReason) {}
func (nopHooks) preempted(*seq, time.Duration)              {}

// A step only admits requests that had arrived when it began: on the real clock a step that
// starts late (at the previous step's planned end) must not admit later arrivals early.
func TestStepAdmitsOnlyEarlierArrivals(t *testing.T) {
	e := newEngine(Config{}, nopHooks{})
	q := e.newSeq([]int{1, 2, 3}, 1)
	e.add(q, 10*time.Millisecond)
	if _, ok := e.schedule(5 * time.Millisecond); ok {
		t.Fatal("admitted a request before its arrival")
	}
	if _, ok := e.schedule(10 * time.Millisecond); !ok {
		t.Fatal("did not admit an arrived request")
	}
}

package mock

import (
	"math"
	"strings"
	"testing"
)

// chain returns the chained hashes of n blocks of one prompt family: prompts of a family
// share their leading blocks.
func chain(family, n int) []uint64 {
	toks := make([]int, n*DefaultBlockSize)
	for i := range toks {
		toks[i] = 1000*family + i
	}
	return newSeq(toks, 1, DefaultBlockSize).hashes
}

func TestKVIndexOverlaps(t *testing.T) {
	x := newKVIndex()
	a := chain(1, 6)
	for _, h := range a[:4] {
		x.apply(0, true, h)
	}
	for _, h := range a[:2] {
		x.apply(2, true, h)
	}
	x.apply(1, true, a[1]) // a block without its parent is no prefix
	x.apply(3, true, a[0])
	x.apply(3, false, a[0])
	got := make([]int, 4)
	if d := x.overlaps(a, got); d != 4 || got[0] != 4 || got[1] != 0 || got[2] != 2 || got[3] != 0 {
		t.Errorf("overlaps %v, depth %d", got, d)
	}
	x.apply(0, false, a[2]) // evicted in the middle: the prefix ends before it
	if x.overlaps(a, got); got[0] != 2 {
		t.Errorf("after eviction: %v", got)
	}
	if x.overlaps(chain(2, 3), got); got[0]+got[1]+got[2]+got[3] != 0 {
		t.Errorf("unrelated prompt: %v", got)
	}
	if x.size() != 3 || x.stored != 8 || x.removed != 2 {
		t.Errorf("size %d, stored %d, removed %d", x.size(), x.stored, x.removed)
	}
	// The last of 64 workers has a bit too.
	all := make([]int, MaxWorkers)
	x.apply(63, true, a[0])
	if x.overlaps(a, all); all[63] != 1 || all[0] != 2 {
		t.Errorf("worker 63: %d, worker 0: %d", all[63], all[0])
	}
}

// route books a request of n blocks of family f on a router with nothing cached.
func TestRouterPolicies(t *testing.T) {
	t.Run("round-robin", func(t *testing.T) {
		r := newRouter(RouterConfig{}, 3, DefaultBlockSize)
		var got []int
		for range 7 {
			got = append(got, r.route(chain(1, 4), 70, 8).worker)
		}
		if want := []int{0, 1, 2, 0, 1, 2, 0}; !equal(got, want) {
			t.Errorf("workers %v, want %v", got, want)
		}
	})
	t.Run("least-loaded", func(t *testing.T) {
		r := newRouter(RouterConfig{Policy: RouteLeastLoaded}, 3, DefaultBlockSize)
		a, b := r.route(chain(1, 4), 64, 8), r.route(chain(2, 4), 64, 8)
		c := r.route(chain(3, 4), 64, 8)
		if a.worker == b.worker || b.worker == c.worker || a.worker == c.worker {
			t.Fatalf("three requests on workers %d %d %d", a.worker, b.worker, c.worker)
		}
		r.finish(b)
		if d := r.route(chain(4, 4), 64, 8); d.worker != b.worker {
			t.Errorf("the idle worker is %d, picked %d", b.worker, d.worker)
		}
	})
	t.Run("random", func(t *testing.T) {
		counts := make([]int, 4)
		r := newRouter(RouterConfig{Policy: RouteRandom, Seed: 5}, 4, DefaultBlockSize)
		for range 4000 {
			counts[r.route(nil, 10, 1).worker]++
		}
		for w, n := range counts {
			if n < 900 || n > 1100 {
				t.Errorf("worker %d got %d of 4000", w, n)
			}
		}
	})
	t.Run("kv", func(t *testing.T) {
		r := newRouter(RouterConfig{Policy: RouteKV}, 3, DefaultBlockSize)
		p := chain(1, 10)
		for _, h := range p {
			r.event(2, true, h)
		}
		// Worker 2 holds all 10 blocks of a 161-token prompt: cost 1 prefill block there,
		// 10.06 elsewhere.
		first := r.route(p, 161, 16)
		if first.worker != 2 || first.overlap != 10 || first.pending != 1 {
			t.Fatalf("picked %+v", first)
		}
		// The book: 10 prompt blocks + 2 own blocks (1 token of the prompt, 16 output).
		if b := r.books[2]; b.activeBlocks != 12 || b.pending != 1 || b.inflight != 1 {
			t.Fatalf("book %+v", b)
		}
		// A second request sharing the prefix still goes there (its shared blocks are
		// counted once), a third unrelated one goes to an idle worker.
		second := r.route(p, 161, 16)
		if second.worker != 2 || r.books[2].activeBlocks != 14 {
			t.Fatalf("second on %d, active %d", second.worker, r.books[2].activeBlocks)
		}
		if third := r.route(chain(2, 10), 161, 16); third.worker == 2 {
			t.Errorf("unrelated request on the loaded worker")
		}
		r.firstToken(first)
		r.finish(first)
		r.finish(first) // twice is once
		r.finish(second)
		if b := r.books[2]; b.activeBlocks != 0 || b.pending != 0 || b.inflight != 0 || b.active.len() != 0 {
			t.Errorf("book after finishing %+v", b)
		}
		// Enough load outweighs the cache: 1 in flight of 100 blocks on worker 2, none on
		// the others, a request that worker 2 caches 10 blocks of.
		r2 := newRouter(RouterConfig{Policy: RouteKV}, 2, DefaultBlockSize)
		for _, h := range p {
			r2.event(1, true, h)
		}
		busy := r2.route(chain(3, 100), 1600, 1)
		if busy.worker != 0 {
			t.Fatal("setup")
		}
		r2.books[0], r2.books[1] = r2.books[1], r2.books[0] // move the load to worker 1
		if w := r2.route(p, 161, 16).worker; w != 0 {
			t.Errorf("picked the loaded worker %d (cost %v)", w, r2.logits)
		}
	})
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Temperature 0 picks the cheapest; a temperature samples the softmax of the normalized
// costs: at T = 1, costs 0 and 1 (normalized) are picked e^0 : e^-1.
func TestRouterPickTemperature(t *testing.T) {
	r := newRouter(RouterConfig{Policy: RouteKV, Seed: 1}, 2, DefaultBlockSize)
	counts := [2]int{}
	for range 20000 {
		r.logits[0], r.logits[1] = 5, 9
		counts[r.pick(1)]++
	}
	want := 1 / (1 + math.Exp(-1))
	if got := float64(counts[0]) / 20000; math.Abs(got-want) > 0.015 {
		t.Errorf("cheaper worker picked %.3f of the time, want %.3f", got, want)
	}
	r.logits[0], r.logits[1] = 5, 9
	if w := r.pick(0); w != 0 {
		t.Errorf("temperature 0 picked %d", w)
	}
	ties := [2]int{}
	for range 1000 {
		r.logits[0], r.logits[1] = 3, 3
		ties[r.pick(0)]++
	}
	if ties[0] < 400 || ties[1] < 400 {
		t.Errorf("ties broken %v", ties)
	}
}

func TestClusterConfigValidate(t *testing.T) {
	if err := (ClusterConfig{}).Validate(); err != nil {
		t.Errorf("zero config: %v", err)
	}
	err := ClusterConfig{Workers: 65, Worker: Config{BlockSize: -1},
		Router: RouterConfig{Policy: "sticky", OverlapWeight: -1, Temperature: math.NaN()}}.Validate()
	for _, want := range []string{"Workers must be in [1, 64]", "BlockSize", `policy "sticky"`, "OverlapWeight", "Temperature"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
	if _, err := ParseRouterPolicy("kv"); err != nil {
		t.Error(err)
	}
	if _, err := ParseRouterPolicy("KV"); err == nil {
		t.Error("KV parsed")
	}
}

package perftest

import (
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/perfgate/perfgate/fixtures"
	"github.com/perfgate/perfgate/perftest/gate"
	"github.com/perfgate/perfgate/perftest/metric"
	"github.com/perfgate/perfgate/perftest/resultfile"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestABOrder(t *testing.T) {
	assert.Equal(t, "ABBAABBA", abOrder(gate.NewPairedOrder(2), 3), "rounded up to whole blocks")
	assert.Equal(t, "BAABBAAB", abOrder(gate.NewPairedOrder(1), 4))
	assert.Equal(t, []int{4, 6, 8}, blockLooks([]int{3, 4, 5, 7, 8}))
}

// runsOf turns an order of repetitions of perRep requests each into the runs of requests
// the servers see ("ABBA", 3: "A3 B6 A3"), after the warm-up requests warm (in order).
func runsOf(order string, perRep int, warm ...byte) []string {
	seq := slices.Clone(warm)
	for _, c := range []byte(order) {
		for range perRep {
			seq = append(seq, c)
		}
	}
	return runs(seq)
}

// recordedOrder reads the block order a result file records.
func recordedOrder(t *testing.T, f *resultfile.File) gate.PairedOrder {
	t.Helper()
	o, ok, err := gate.ReadPairedOrder(f)
	require.NoError(t, err)
	require.True(t, ok, "the A/B order is recorded")
	return o
}

// abServers starts two fake servers that log which of them each request reached.
func abServers(t *testing.T, itlA, itlB time.Duration) (a, b *fakeServer, log func() []byte) {
	var mu sync.Mutex
	var seq []byte
	mark := func(side byte) func(int64) string {
		return func(int64) string {
			mu.Lock()
			seq = append(seq, side)
			mu.Unlock()
			return ""
		}
	}
	a, b = newFakeServer(t, itlA, mark('A')), newFakeServer(t, itlB, mark('B'))
	return a, b, func() []byte { mu.Lock(); defer mu.Unlock(); return append([]byte(nil), seq...) }
}

// runs turns "AAABBB" into "A3 B3".
func runs(seq []byte) []string {
	var out []string
	for i := 0; i < len(seq); {
		j := i
		for j < len(seq) && seq[j] == seq[i] {
			j++
		}
		out = append(out, string(seq[i])+string(rune('0'+j-i)))
		i = j
	}
	return out
}

func TestABInterleaves(t *testing.T) {
	a, b, log := abServers(t, 100*time.Microsecond, 100*time.Microsecond)
	out := t.TempDir()
	setFlag(t, flagOut, out)
	w := fixtures.Synthetic{ISL: 8, OSL: 4, Prompts: 3, Seed: 1}
	var order gate.PairedOrder
	c := capture(t, nil, func(tb testing.TB) {
		rep := AB(tb, Case{Name: "PerfAB", Workload: w, Load: Concurrency(1), Count: 3, MaxCount: 3, Warmup: 2}, a, b)
		require.NotNil(t, rep)
		assert.Len(t, rep.Deltas, len(slices.DeleteFunc(slices.Clone(rep.Base.Units), metric.IsPart)), "every unit but the parts of latencies")
		assert.Empty(t, rep.Regressions(), "4 pairs can never be significant (2^-4 > 0.05)")
		assert.NotEmpty(t, rep.Undecideds())
		assert.Equal(t, 4, rep.Pairs, "3 a side rounded up to whole ABBA blocks")
		order = recordedOrder(t, rep.Cur)
	})
	assert.Contains(t, c.errors(), "PerfAB is UNDECIDED, not passed: at 4 repetitions a side", "4 pairs are UNDECIDED, never a pass")
	// Warm-ups of 2 requests each, then repetitions of 3 requests in whole blocks.
	first := order.First[:1]
	second := map[string]string{"A": "B", "B": "A"}[first]
	assert.Equal(t, runsOf(order.Sides(2), 3, 'A', 'A', 'B', 'B'), runs(log()))
	assert.Equal(t, []string{first + "3", second + "6", first + "6", second + "6", first + "3"}, runsOf(order.Sides(2), 3))
	assert.Contains(t, c.logged(), "B against A, paired, order "+order.Sides(2))
	assert.Contains(t, c.logged(), "paired, 4 pairs, signed-rank")
	for _, side := range []string{"A", "B"} {
		rf, err := resultfile.Read(filepath.Join(out, "PerfAB."+side+".txt"))
		require.NoError(t, err, "benchmark-format results of each side")
		assert.Len(t, rf.Values("e2e-p50-sec"), 4)
		assert.Equal(t, "0.05", rf.ConfigValue("gate-alpha"), "what B was judged against A with")
		assert.Equal(t, order, recordedOrder(t, rf), "both sides record the order")
	}
}

// An undecided A/B comparison runs more repetitions a side, keeping the ABBA order, up to
// MaxCount, and says why it stopped.
func TestABSequential(t *testing.T) {
	a, b, log := abServers(t, 100*time.Microsecond, 100*time.Microsecond)
	w := fixtures.Synthetic{ISL: 8, OSL: 4, Prompts: 3, Seed: 1}
	var order gate.PairedOrder
	c := capture(t, nil, func(tb testing.TB) {
		// Pairs of two-token streams from identical servers: too coarse to decide a rank
		// at 4 pairs (2^-4), so the run goes on to the last look.
		rep := AB(tb, Case{Name: "PerfAB", Workload: w, Load: Concurrency(1), Count: 3, MaxCount: 5, Warmup: -1}, a, b)
		require.NotNil(t, rep)
		require.NotNil(t, rep.Sequential)
		assert.Equal(t, []int{4, 6}, rep.Sequential.Looks, "looks on whole ABBA blocks")
		assert.True(t, rep.Sequential.Paired)
		order = recordedOrder(t, rep.Cur)
	})
	assert.Equal(t, runsOf(order.Sides(len(log())/12), 3), runs(log()), "whole blocks, in the recorded order")
	assert.Contains(t, c.logged(), "undecided after 4 repetitions a side")
	assert.Contains(t, c.logged(), "sequential: looks at 4, 6 repetitions a side; stopped: after 6 repetitions")
}

func TestABFindsSlowerB(t *testing.T) {
	// B streams tokens 50 times slower: every B repetition is slower than every A one.
	a, b, _ := abServers(t, 100*time.Microsecond, 5*time.Millisecond)
	w := fixtures.Synthetic{ISL: 8, OSL: 4, Prompts: 4, Seed: 1}
	c := capture(t, nil, func(tb testing.TB) {
		AB(tb, Case{Name: "PerfAB", Workload: w, Load: Concurrency(2), Count: 6, Warmup: -1}, a, b)
	})
	assert.False(t, c.fatal)
	assert.Contains(t, c.errors(), "B regressed against A: ")
	assert.Contains(t, c.errors(), "itl-p50-sec +")
}

func TestABRefusesEndpointFlag(t *testing.T) {
	setFlag(t, flagEndpoint, "http://127.0.0.1:1")
	c := capture(t, nil, func(tb testing.TB) {
		AB(tb, Case{Workload: fixtures.Synthetic{ISL: 8, OSL: 4, Prompts: 1}, Load: Concurrency(1)}, Endpoint("http://a"), Endpoint("http://b"))
	})
	assert.True(t, c.fatal)
	assert.Contains(t, c.errors(), "-perf.endpoint (or PERFGATE_ENDPOINT) would replace both")
}

// TestRunABReadsNoFlags: the library half of AB is driven by its arguments alone.
func TestRunABReadsNoFlags(t *testing.T) {
	a, b, _ := abServers(t, 100*time.Microsecond, 100*time.Microsecond)
	setFlag(t, flagEndpoint, "http://127.0.0.1:1")
	setFlag(t, flagCount, 7)
	ra, rb, err := RunAB(t.Context(), Case{Workload: fixtures.Synthetic{ISL: 8, OSL: 4, Prompts: 2}, Load: Concurrency(1), Count: 2, Warmup: -1}, a, b, ExecOptions{OrderSeed: 9})
	require.NoError(t, err)
	assert.Len(t, ra.Reps, 2)
	assert.Len(t, rb.Reps, 2)
	assert.Equal(t, "blocks BAAB seed 9", ra.File().ConfigValue(metric.KeyABOrder), "the seed chose the order")
}

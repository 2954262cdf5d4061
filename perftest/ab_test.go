package perftest

import (
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/perfgate/perfgate/fixtures"
	"github.com/perfgate/perfgate/perftest/metric"
	"github.com/perfgate/perfgate/perftest/resultfile"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestABOrder(t *testing.T) {
	assert.Equal(t, "ABBAAB", abOrder(3))
	assert.Equal(t, "ABBAABBA", abOrder(4))
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
	c := capture(t, nil, func(tb testing.TB) {
		rep := AB(tb, Case{Name: "PerfAB", Workload: w, Load: Concurrency(1), Count: 3, MaxCount: 3, Warmup: 2}, a, b)
		require.NotNil(t, rep)
		assert.Len(t, rep.Deltas, len(slices.DeleteFunc(slices.Clone(rep.Base.Units), metric.IsPart)), "every unit but the parts of latencies")
		assert.Empty(t, rep.Regressions(), "3 a side can never be significant")
		assert.NotEmpty(t, rep.Undecideds())
	})
	assert.Contains(t, c.errors(), "PerfAB is UNDECIDED, not passed: at 3 repetitions a side", "3 a side is UNDECIDED, never a pass")
	// Warm-ups of 2 requests each, then repetitions of 3 requests in ABBAAB order.
	assert.Equal(t, []string{"A2", "B2", "A3", "B6", "A6", "B3"}, runs(log()))
	assert.Contains(t, c.logged(), "B against A, order ABBAAB")
	for _, side := range []string{"A", "B"} {
		rf, err := resultfile.Read(filepath.Join(out, "PerfAB."+side+".txt"))
		require.NoError(t, err, "benchmark-format results of each side")
		assert.Len(t, rf.Values("e2e-p50-sec"), 3)
		assert.Equal(t, "0.05", rf.ConfigValue("gate-alpha"), "what B was judged against A with")
	}
}

// An undecided A/B comparison runs more repetitions a side, keeping the ABBA order, up to
// MaxCount, and says why it stopped.
func TestABSequential(t *testing.T) {
	a, b, log := abServers(t, 100*time.Microsecond, 100*time.Microsecond)
	w := fixtures.Synthetic{ISL: 8, OSL: 4, Prompts: 3, Seed: 1}
	c := capture(t, nil, func(tb testing.TB) {
		rep := AB(tb, Case{Name: "PerfAB", Workload: w, Load: Concurrency(1), Count: 3, MaxCount: 5, Warmup: -1}, a, b)
		require.NotNil(t, rep)
		require.NotNil(t, rep.Sequential)
		assert.Equal(t, []int{3, 4, 5}, rep.Sequential.Looks)
		assert.True(t, rep.Sequential.Paired)
		assert.Contains(t, rep.Sequential.Stopped, "after 5 repetitions, the most allowed, still undecided")
	})
	assert.Contains(t, c.errors(), "PerfAB is UNDECIDED, not passed: at 5 repetitions a side no regression of", "never a pass")
	assert.Equal(t, []string{"A3", "B6", "A6", "B6", "A6", "B3"}, runs(log()), "ABBAABBAAB")
	assert.Contains(t, c.logged(), "undecided after 3 repetitions a side")
	assert.Contains(t, c.logged(), "sequential: looks at 3, 4, 5 repetitions a side; stopped: after 5 repetitions")
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
	ra, rb, err := RunAB(t.Context(), Case{Workload: fixtures.Synthetic{ISL: 8, OSL: 4, Prompts: 2}, Load: Concurrency(1), Count: 2, Warmup: -1}, a, b, ExecOptions{})
	require.NoError(t, err)
	assert.Len(t, ra.Reps, 2)
	assert.Len(t, rb.Reps, 2)
}

package gate

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/perftest/resultfile"
)

// Pocock's constants (Jennison and Turnbull, table 2.1): the two-sided 0.05 design with K
// equally spaced looks rejects at |Z_k| >= c_P(K) at every look; one side of it crosses
// with probability very nearly 0.025.
func TestCrossProbPocock(t *testing.T) {
	for _, tc := range []struct {
		k int
		c float64
	}{{1, 1.960}, {2, 2.178}, {3, 2.289}, {5, 2.413}, {10, 2.555}} {
		info := make([]float64, tc.k)
		for i := range info {
			info[i] = float64(i + 1)
		}
		a := 1 - stdNormal.CDF(tc.c)
		start := time.Now()
		p := crossProb(info, a)
		t.Logf("K=%d: nominal %.5f, crossing %.5f (%v)", tc.k, a, p, time.Since(start))
		assert.InEpsilon(t, 0.025, p, 0.02, "K=%d", tc.k)
	}
}

// The crossing probability against a simulated Brownian motion at unequal looks, at a
// small level as Holm's correction uses.
func TestCrossProbSimulated(t *testing.T) {
	info := []float64{5, 6.25, 7.5, 8.75, 10}
	a := 0.001
	const trials = 400000
	sim := simulateCrossing(rand.New(rand.NewPCG(1, 2)), info, a, trials)
	got := crossProb(info, a)
	t.Logf("crossing at nominal %g: integrated %.5f, simulated %.5f", a, got, sim)
	se := math.Sqrt(sim * (1 - sim) / trials)
	assert.InDelta(t, sim, got, 4*se)
	assert.Greater(t, got, a, "more looks cross more often")
	assert.Less(t, got, float64(len(info))*a, "but less than Bonferroni over the looks")
}

func TestCrossingTableInverts(t *testing.T) {
	tab := crossing([]float64{5, 7.5, 10, 12.5, 15})
	for _, p := range []float64{1e-9, 1e-5, 0.0033, 0.05, 0.2} {
		a := tab.inverse(p)
		assert.InEpsilon(t, p, tab.at(a), 1e-6)
		assert.Less(t, a, p)
	}
	assert.Equal(t, 1.0, tab.at(1))
	assert.Equal(t, 0.0, tab.at(0))
}

func seqFile(rng *rand.Rand, n int, shift float64) *resultfile.File {
	f := &resultfile.File{Units: []string{"x-sec"}}
	for range n {
		f.Reps = append(f.Reps, resultfile.Rep{Metrics: []resultfile.Metric{{Unit: "x-sec", Value: (1 + shift) * (1 + 0.03*rng.NormFloat64())}}})
	}
	return f
}

// With no change, looking at 10, 15, 20, 25 and 30 repetitions a side and stopping at the
// first significant look keeps the false-alarm rate at alpha; looking without the design
// does not.
func TestSequentialKeepsAlpha(t *testing.T) {
	seq := &Sequential{Looks: []int{10, 15, 20, 25, 30}, Paired: true}
	require.NoError(t, seq.Validate())
	opt := Options{Alpha: 0.05, Units: map[string]Unit{"x-sec": {LowerBetter: true}}}
	seqOpt := opt
	seqOpt.Sequential = seq
	rng := rand.New(rand.NewPCG(3, 4))
	const trials = 1000
	naive, sequential := 0, 0
	for range trials {
		base, cur := seqFile(rng, 30, 0), seqFile(rng, 30, 0)
		hitNaive, hitSeq := false, false
		for _, n := range seq.Looks {
			b, c := prefix(base, n), prefix(cur, n)
			if d := Compare(b, c, opt).Deltas[0]; d.PAdj < 0.05 && d.dir > 0 {
				hitNaive = true
			}
			if d := Compare(b, c, seqOpt).Deltas[0]; d.PAdj < 0.05 && d.dir > 0 {
				hitSeq = true
			}
		}
		if hitNaive {
			naive++
		}
		if hitSeq {
			sequential++
		}
	}
	t.Logf("one-sided false alarms over 5 looks: %d/%d looking naively, %d/%d with the design", naive, trials, sequential, trials)
	assert.LessOrEqual(t, float64(sequential)/trials, 0.06)
	assert.Greater(t, float64(naive)/trials, 0.08, "peeking without the design inflates alpha")
	assert.Greater(t, float64(sequential)/trials, 0.02, "the design is not needlessly strict")
}

func TestSequentialNext(t *testing.T) {
	s := &Sequential{Looks: []int{10, 15, 20}}
	assert.Equal(t, 10, s.Next(0))
	assert.Equal(t, 15, s.Next(10))
	assert.Equal(t, 15, s.Next(12))
	assert.Equal(t, 0, s.Next(20))
	assert.Error(t, (&Sequential{Looks: []int{10, 10}}).Validate())
	assert.Error(t, (&Sequential{}).Validate())
	s.Stopped = "no metric undecided"
	assert.Equal(t, "sequential: looks at 10, 15, 20 repetitions; stopped: no metric undecided", s.String())
}

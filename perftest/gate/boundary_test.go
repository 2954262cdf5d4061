package gate

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/perftest/metric"
	"github.com/perfgate/perfgate/perftest/resultfile"
)

func normals(rng *rand.Rand, n int, centre, noise float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = centre * (1 + noise*rng.NormFloat64())
	}
	return out
}

// The bound is a one-sided confidence bound: with a true worsening of exactly 5%, it rules
// out 5% (lies below it) in about level of the trials, in both directions of better.
func TestWorseBoundCoverage(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const trials, level = 4000, 0.1
	for _, lowerBetter := range []bool{true, false} {
		below := 0
		for range trials {
			bv := normals(rng, 30, 1, 0.03)
			worse := 1.05
			if !lowerBetter {
				worse = 0.95
			}
			cv := normals(rng, 6, worse, 0.03)
			if worseBound(bv, cv, lowerBetter, level) < 0.05 {
				below++
			}
		}
		got := float64(below) / trials
		t.Logf("lowerBetter %v: the bound ruled out the true 5%% in %.3f of trials (level %g)", lowerBetter, got, level)
		assert.InDelta(t, level, got, 0.03, "lowerBetter %v", lowerBetter)
	}
}

func TestWorseBoundEdges(t *testing.T) {
	assert.True(t, math.IsInf(worseBound([]float64{1, 2}, []float64{1, 2}, true, 0.01), 1), "2+2 repetitions bound nothing at 1%")
	assert.True(t, math.IsInf(worseBound(nil, []float64{1}, true, 0.1), 1))
	assert.Equal(t, 0.0, worseBound(make([]float64, 30), make([]float64, 6), true, 0.1), "all zeros: no worsening")
	// Rates: higher is better, a fall is the worse direction.
	b := worseBound([]float64{10, 10, 10, 10, 10, 10}, []float64{8, 8, 8, 8, 8, 8}, false, 0.1)
	assert.Equal(t, 2.0, b)
}

// boundaryFile is a file of one latency "x-sec" with threshold 5%.
func boundaryOpt(seq *Sequential) Options {
	return Options{Alpha: 0.05, Units: map[string]Unit{"x-sec": {LowerBetter: true, Threshold: 0.05}}, Sequential: seq}
}

func TestDecideNoChangeBoundary(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	seq := &Sequential{Looks: []int{6, 10, 15, 20, 25, 30}, Least: 10}
	require.NoError(t, seq.Validate())
	base := seqFile(rng, 30, 0)
	// Unchanged at 3% noise: settled at the first look.
	cur := seqFile(rng, 6, 0)
	rep := Compare(base, cur, boundaryOpt(seq))
	assert.Empty(t, seq.Unsettled(rep))
	assert.True(t, seq.Decide(rep, 6))
	assert.Equal(t, "after 6 repetitions: every metric within its threshold (no-change boundary)", seq.Stopped)
	// 4.5% worse, within the threshold of 5% but not ruled out at 6: an early look goes on,
	// where the rule of the later looks ("none undecided") would have stopped.
	cur = seqFile(rng, 6, 0.045)
	rep = Compare(base, cur, boundaryOpt(seq))
	require.Empty(t, rep.Regressions())
	require.True(t, rep.Decided())
	unsettled := seq.Unsettled(rep)
	require.Len(t, unsettled, 1)
	assert.Contains(t, unsettled[0], "x-sec up to +")
	assert.Contains(t, unsettled[0], "(threshold 5.0%)")
	assert.False(t, seq.Decide(rep, 6))
	assert.Empty(t, seq.Stopped)
	// From Least on the earlier rule applies as before.
	found := false
	for range 100 {
		rep = Compare(base, seqFile(rng, 10, 0.045), boundaryOpt(seq))
		if found = len(seq.Unsettled(rep)) > 0 && len(rep.Regressions()) == 0; found {
			break
		}
	}
	require.True(t, found, "a look at 10 with the bound beyond the threshold")
	assert.True(t, seq.Decide(rep, 10))
	assert.Contains(t, seq.Stopped, "decided, no metric beyond its threshold undecided")
}

// Over the looks of a design, a metric worse by exactly its threshold is settled unchanged
// in at most 1 - MDEPower (20%) of runs; a 20% regression never is; an unchanged metric
// almost always is at the first look.
func TestBoundaryErrorOverLooks(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	const trials = 600
	for _, tc := range []struct {
		shift    float64
		min, max float64
	}{{0.05, 0, 0.2 + 0.03}, {0.20, 0, 0}, {0, 0.95, 1}} {
		settled, first := 0, 0
		for range trials {
			seq := &Sequential{Looks: []int{6, 10, 15, 20, 25, 30}, Least: 10}
			base, cur := seqFile(rng, 30, 0), seqFile(rng, 30, tc.shift)
			for _, n := range seq.Looks {
				if seq.Decide(Compare(base, prefix(cur, n), boundaryOpt(seq)), n) {
					if strings.Contains(seq.Stopped, "no-change boundary") {
						settled++
						if n == 6 {
							first++
						}
					}
					break
				}
			}
		}
		got := float64(settled) / trials
		t.Logf("shift %.0f%%: settled unchanged in %.3f of runs (%d at the first look of 6)", 100*tc.shift, got, first)
		assert.GreaterOrEqual(t, got, tc.min, "shift %g", tc.shift)
		assert.LessOrEqual(t, got, tc.max, "shift %g", tc.shift)
	}
}

func TestReadSequentialLeast(t *testing.T) {
	seq := &Sequential{Looks: []int{6, 10, 15}, Least: 10}
	assert.Equal(t, "least:10:6,10,15", seq.ConfigValue())
	assert.Equal(t, "sequential: looks at 6, 10, 15 repetitions (before 10 only at the no-change boundary)", seq.String())
	f := &resultfile.File{Path: "x.txt", Config: []resultfile.KV{{Key: metric.KeyLooks, Value: "paired:" + seq.ConfigValue()}}}
	got, err := ReadSequential(f)
	require.NoError(t, err)
	assert.Equal(t, &Sequential{Looks: []int{6, 10, 15}, Least: 10, Paired: true}, got)
	f.Config[0].Value = "least:11:6,10,15"
	_, err = ReadSequential(f)
	assert.ErrorContains(t, err, "least 11 is not one of the looks")
	f.Config[0].Value = "least:x:6,10"
	_, err = ReadSequential(f)
	assert.ErrorContains(t, err, "bad least look")
}

// kthLargestDiff agrees with sorting every difference, ties included.
func TestKthLargestDiff(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for range 200 {
		xs, ys := make([]float64, 1+rng.IntN(12)), make([]float64, 1+rng.IntN(12))
		for i := range xs {
			xs[i] = float64(rng.IntN(5))
		}
		for i := range ys {
			ys[i] = rng.NormFloat64()
		}
		if rng.IntN(2) == 0 {
			xs, ys = ys, xs
		}
		var diffs []float64
		for _, x := range xs {
			for _, y := range ys {
				diffs = append(diffs, x-y)
			}
		}
		slices.Sort(diffs)
		k := 1 + rng.IntN(len(diffs))
		assert.InDelta(t, diffs[len(diffs)-k], kthLargestDiff(xs, ys, k), 1e-12, "k %d of %v - %v", k, xs, ys)
	}
}

// The paired bound is a one-sided confidence bound of the median paired change: with every
// pair worse by exactly 5% (3% noise a repetition), it rules out 5% in about level of the
// trials, in both directions of better.
func TestPairedWorseBoundCoverage(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	const trials, level = 4000, 0.1
	for _, lowerBetter := range []bool{true, false} {
		below := 0
		for range trials {
			worse := 1.05
			if !lowerBetter {
				worse = 0.95
			}
			a, b := &resultfile.File{}, &resultfile.File{}
			for _, v := range normals(rng, 12, 1, 0.03) {
				a.Reps = append(a.Reps, resultfile.Rep{Metrics: []resultfile.Metric{{Unit: "x", Value: v}}})
				b.Reps = append(b.Reps, resultfile.Rep{Metrics: []resultfile.Metric{{Unit: "x", Value: v * worse * (1 + 0.03*rng.NormFloat64())}}})
			}
			if pairedWorseBound(a, b, "x", lowerBetter, level) < 0.05 {
				below++
			}
		}
		got := float64(below) / trials
		t.Logf("lowerBetter %v: the paired bound ruled out the true 5%% in %.3f of trials (level %g)", lowerBetter, got, level)
		assert.InDelta(t, level, got, 0.03, "lowerBetter %v", lowerBetter)
	}
	two := &resultfile.File{Reps: make([]resultfile.Rep, 2)}
	for i := range two.Reps {
		two.Reps[i].Metrics = []resultfile.Metric{{Unit: "x", Value: 1}}
	}
	assert.True(t, math.IsInf(pairedWorseBound(two, two, "x", true, 0.1), 1), "2 pairs bound nothing at 10%: 2^-2 > 0.1")
}

// In a paired run the boundary reads the pairs (whose threshold has no noise floor): an
// A/A run whose machine slows to half its speed over its 10 pairs is settled unchanged at
// the first look, and a B 7% slower (threshold 5%) is not.
func TestPairedBoundarySettlesUnderDrift(t *testing.T) {
	opt := Options{Alpha: 0.05, Threshold: 0.05, Paired: true}
	for seed := range uint64(20) {
		seq := &Sequential{Looks: []int{10, 14, 20}, Least: 14, Paired: true}
		require.NoError(t, seq.Validate())
		a, b := abFiles(10, 2, 1, seed)
		assert.Empty(t, seq.Unsettled(Compare(a, b, opt)), "seed %d: A/A", seed)
		a, b = abFiles(10, 2, 1.07, seed)
		rep := Compare(a, b, opt)
		assert.True(t, rep.Deltas[0].Verdict == Regression || len(seq.Unsettled(rep)) > 0, "seed %d: 7%% slower B settled unchanged", seed)
	}
}

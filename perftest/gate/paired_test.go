package gate

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/internal/golden"
	"github.com/perfgate/perfgate/perftest/metric"
	"github.com/perfgate/perfgate/perftest/resultfile"
)

// Reference values of R's wilcox.test(x, y, paired = TRUE), derived by hand: with n
// nonzero differences and no ties, P(V >= v) is the share of the 2^n subsets of 1..n
// whose sum is at least v.
func TestSignedRankReference(t *testing.T) {
	for _, tc := range []struct {
		d             []float64
		greater, less float64
	}{
		// All five positive: V = 15, the largest of 32 equally likely sums.
		{[]float64{1, 2, 3, 4, 5}, 1.0 / 32, 1},
		// Ranks 2..5 positive: V = 14, reached by {2,3,4,5} and {1..5}.
		{[]float64{1.5, -0.5, 2, 3, 4}, 2.0 / 32, 31.0 / 32},
		// The example of R's ?wilcox.test (Hollander & Wolfe, depression scale):
		// V = 40, p-value = 0.01953 (10 of 512 subsets of 1..9 sum to 40 or more, 7 to 41 or
		// more: their complements sum to 5 or less, 4 or less).
		{sub([]float64{1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30},
			[]float64{0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29}), 10.0 / 512, 1 - 7.0/512},
		// Zeros are dropped: as {1, 2, 3, 4, 5}.
		{[]float64{0, 1, 2, 0, 3, 4, 5}, 1.0 / 32, 1},
		{nil, 1, 1},
		{[]float64{0, 0}, 1, 1},
	} {
		g, l := signedRank(tc.d)
		assert.InDelta(t, tc.greater, g, 1e-12, "%v greater", tc.d)
		assert.InDelta(t, tc.less, l, 1e-12, "%v less", tc.d)
	}
}

func sub(x, y []float64) []float64 {
	out := make([]float64, len(x))
	for i := range x {
		out[i] = x[i] - y[i]
	}
	return out
}

// The exact p-values equal a brute-force enumeration of all 2^n sign patterns, ties
// (mid-ranks) included.
func TestSignedRankEnumeration(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 200 {
		n := 1 + rng.IntN(12)
		d := make([]float64, n)
		for i := range d {
			d[i] = float64(rng.IntN(7) - 3) // small integers: ties and zeros
			if trial%2 == 0 {
				d[i] = rng.NormFloat64()
			}
		}
		g, l := signedRank(d)
		eg, el := enumerate(d)
		require.InDelta(t, eg, g, 1e-12, "%v", d)
		require.InDelta(t, el, l, 1e-12, "%v", d)
	}
}

// enumerate computes P(V >= v) and P(V <= v) by flipping the signs of the nonzero |d|
// every possible way, with mid-ranks computed naively.
func enumerate(d []float64) (greater, less float64) {
	var a []float64
	for _, x := range d {
		if x != 0 {
			a = append(a, x)
		}
	}
	n := len(a)
	if n == 0 {
		return 1, 1
	}
	rank := make([]float64, n)
	for i := range a {
		below, equal := 0, 0
		for j := range a {
			switch {
			case math.Abs(a[j]) < math.Abs(a[i]):
				below++
			case math.Abs(a[j]) == math.Abs(a[i]):
				equal++
			}
		}
		rank[i] = float64(below) + float64(equal+1)/2
	}
	v := 0.0
	for i := range a {
		if a[i] > 0 {
			v += rank[i]
		}
	}
	for mask := range 1 << n {
		s := 0.0
		for i := range n {
			if mask>>i&1 == 1 {
				s += rank[i]
			}
		}
		p := 1 / float64(int(1)<<n)
		if s >= v-1e-9 {
			greater += p
		}
		if s <= v+1e-9 {
			less += p
		}
	}
	return greater, less
}

// Beyond exactPairs the normal approximation stays close to the exact distribution.
func TestSignedRankNormal(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	d := make([]float64, exactPairs+1)
	for i := range d {
		d[i] = rng.NormFloat64() + 0.3
	}
	g, _ := signedRank(d)
	ranks2, _ := doubledRanks(d)
	v2 := 0
	for i, x := range d {
		if x > 0 {
			v2 += ranks2[i]
		}
	}
	exact := 0.0
	for s, p := range signDist(ranks2) {
		if s >= v2 {
			exact += p
		}
	}
	assert.InDelta(t, exact, g, 0.002, "normal approximation at n=%d", len(d))
	assert.Less(t, g, 0.05)
}

func TestHodgesLehmann(t *testing.T) {
	// qsignrank(0.025, 9) = 6 by hand: P(V <= 5) = 10/512 < 0.025 <= P(V <= 6) = 14/512.
	assert.Equal(t, 6, walshRank(9, 0.025))
	// n = 5: P(V = 0) = 1/32 > 0.025, so 0, raised to 1: the interval is the range.
	assert.Equal(t, 1, walshRank(5, 0.025))
	est, lo, hi := hodgesLehmann([]float64{1, 2, 3, 4, 100})
	// Walsh averages: 1 1.5 2 2 2.5 2.5 3 3 3.5 4 50.5 51 51.5 52 100; median 3.
	assert.Equal(t, 3.0, est)
	assert.Equal(t, 1.0, lo)
	assert.Equal(t, 100.0, hi)
	// The estimate is the shift: adding c to every difference adds c to all three.
	d := []float64{0.3, -0.1, 0.25, 0.05, 0.12, 0.4, -0.02, 0.18, 0.09}
	e1, l1, h1 := hodgesLehmann(d)
	for i := range d {
		d[i] += 1
	}
	e2, l2, h2 := hodgesLehmann(d)
	assert.InDelta(t, e1+1, e2, 1e-12)
	assert.InDelta(t, l1+1, l2, 1e-12)
	assert.InDelta(t, h1+1, h2, 1e-12)
	assert.Less(t, l1, e1)
	assert.Greater(t, h1, e1)
	// A file of many repetitions falls back to the median with the sign test's interval.
	big := make([]float64, maxWalsh+1)
	for i := range big {
		big[i] = float64(i)
	}
	e, l, h := hodgesLehmann(big)
	assert.Equal(t, float64(maxWalsh/2), e)
	assert.Less(t, l, e)
	assert.Greater(t, h, e)
}

func TestPairedOrder(t *testing.T) {
	assert.Equal(t, "ABBAABBAABBA", NewPairedOrder(42).Sides(3))
	assert.Equal(t, "BAABBAAB", NewPairedOrder(7).Sides(2))
	for _, seed := range []uint64{1, 2, 99} {
		s := NewPairedOrder(seed).Sides(5)
		for blocks := 1; blocks <= 5; blocks++ {
			// Every prefix of whole blocks has the same count and mean position a side.
			var posA, posB, nA, nB int
			for i, c := range s[:4*blocks] {
				if c == 'A' {
					posA, nA = posA+i, nA+1
				} else {
					posB, nB = posB+i, nB+1
				}
			}
			assert.Equal(t, nA, nB)
			assert.Equal(t, posA, posB, "seed %d, %d blocks", seed, blocks)
		}
	}
	f := &resultfile.File{Path: "x.txt", Config: []resultfile.KV{{Key: metric.KeyABOrder, Value: NewPairedOrder(7).ConfigValue()}}}
	o, ok, err := ReadPairedOrder(f)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, NewPairedOrder(7), o)
	f.Config[0].Value = "blocks ABAB seed 7"
	_, _, err = ReadPairedOrder(f)
	assert.ErrorContains(t, err, "x.txt: config ab-order")
}

// abFiles returns the two sides of an A/B run of n repetitions a side in ABBA order, the
// metric "ns/op" drifting from 1 to drift over the run and B slower by the factor slow, with
// 1% noise a repetition.
func abFiles(n int, drift, slow float64, seed uint64) (a, b *resultfile.File) {
	rng := rand.New(rand.NewPCG(seed, 1))
	order := NewPairedOrder(seed).Sides((n + 1) / 2)
	a, b = &resultfile.File{Path: "A", Name: "BenchmarkAB"}, &resultfile.File{Path: "B", Name: "BenchmarkAB"}
	for _, f := range []*resultfile.File{a, b} {
		f.Units = []string{"ns/op"}
		f.Config = []resultfile.KV{{Key: metric.KeyABOrder, Value: NewPairedOrder(seed).ConfigValue()}}
	}
	for i, side := range order[:2*n] {
		v := (1 + (drift-1)*float64(i)/float64(2*n)) * (1 + 0.01*rng.NormFloat64())
		f := a
		if side == 'B' {
			f, v = b, v*slow
		}
		f.Reps = append(f.Reps, resultfile.Rep{Metrics: []resultfile.Metric{{Value: v, Unit: "ns/op"}}})
	}
	return a, b
}

// Drift that hits both sides cancels in the pairs: a run slowing down by half over 10
// pairs compared with itself is unchanged, and 10% on B is caught at 10 pairs where the
// unpaired test on the same files cannot separate it from the drift.
func TestPairedDriftCancels(t *testing.T) {
	opt := Options{Alpha: 0.05, Threshold: 0.05}
	pairedOpt := opt
	pairedOpt.Paired = true
	caught, unpairedCaught := 0, 0
	for seed := range uint64(20) {
		a, b := abFiles(10, 1.5, 1, seed)
		rep := Compare(a, b, pairedOpt)
		require.Equal(t, 10, rep.Pairs)
		d := rep.Deltas[0]
		require.NotNil(t, d.Pairs)
		assert.Equal(t, Unchanged, d.Verdict, "seed %d: A/A under drift: %+v", seed, d.Pairs)
		assert.Less(t, math.Abs(d.Change), 0.02, "seed %d: the HL change of A/A", seed)

		a, b = abFiles(10, 1.5, 1.10, seed)
		if Compare(a, b, pairedOpt).Deltas[0].Verdict == Regression {
			caught++
		}
		if Compare(a, b, opt).Deltas[0].Verdict == Regression {
			unpairedCaught++
		}
	}
	assert.Equal(t, 20, caught, "paired: 10% slower B caught at 10 pairs every time")
	assert.Less(t, unpairedCaught, 10, "unpaired, the drift's spread hides it")
}

// Through the recorded files: the ab-order line makes CompareAsRecorded pair, and the text
// report says so.
func TestPairedAsRecorded(t *testing.T) {
	a, b := abFiles(10, 1, 1.10, 5)
	rep, err := CompareAsRecorded(a, b, Options{})
	require.NoError(t, err)
	assert.Equal(t, 10, rep.Pairs)
	d := rep.Deltas[0]
	assert.Equal(t, Regression, d.Verdict)
	assert.InDelta(t, 0.10, d.Change, 0.02)
	assert.Less(t, d.Pairs.Lo, d.Change)
	assert.Greater(t, d.Pairs.Hi, d.Change)
	assert.InDelta(t, 1.0/1024, d.MinP, 1e-15)
	var text strings.Builder
	require.NoError(t, rep.WriteText(&text))
	assert.Contains(t, text.String(), "paired, 10 pairs, signed-rank")
	js, err := rep.MarshalJSON()
	require.NoError(t, err)
	assert.Contains(t, string(js), `"pairs":10`)
	assert.Contains(t, string(js), `"hl_change"`)

	// Four pairs cannot reach one-sided 0.05 (2^-4 = 0.0625): UNDECIDED, not a pass.
	a, b = abFiles(4, 1, 1.5, 5)
	rep, err = CompareAsRecorded(a, b, Options{})
	require.NoError(t, err)
	assert.Equal(t, Undecided, rep.Deltas[0].Verdict)
	assert.True(t, math.IsInf(rep.Deltas[0].MDE, 1))
	assert.True(t, slices.ContainsFunc(rep.Warnings, func(e error) bool { return e != nil }), "the sample-size warning")
}

// The two sides of an A/B run (testdata/paired-a.txt, paired-b.txt: 10 pairs in ABBA
// blocks while the machine slowed by 30%, B's ITL 10% slower, its e2e 4%) compare pair by
// pair from their ab-order line: ITL regressed, e2e and req/s below the threshold, and the
// reports say "paired". Without the pairs (the same files, unpaired) the drift's spread
// hides the ITL regression.
func TestPairedGolden(t *testing.T) {
	a, err := resultfile.Read("testdata/paired-a.txt")
	require.NoError(t, err)
	b, err := resultfile.Read("testdata/paired-b.txt")
	require.NoError(t, err)
	rep, err := CompareAsRecorded(a, b, testOptions)
	require.NoError(t, err)
	v := verdicts(rep)
	assert.Equal(t, Regression, v["itl-p50-sec"])
	assert.Equal(t, Unchanged, v["e2e-p50-sec"], "4% is below the 5% threshold")
	assert.Equal(t, Unchanged, v["ttft-p50-sec"])
	assert.Equal(t, Unchanged, v["error-rate"], "all zero: no pair differs")
	for _, format := range []string{"text", "markdown", "json"} {
		var buf strings.Builder
		require.NoError(t, rep.Write(&buf, format))
		golden.Check(t, "paired."+format+".golden", []byte(buf.String()))
	}
	unpaired := Compare(a, b, testOptions)
	assert.Equal(t, Unchanged, verdicts(unpaired)["itl-p50-sec"], "unpaired, the drift hides 10%")
}

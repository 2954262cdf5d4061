package gate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/internal/golden"
	"github.com/perfgate/perfgate/perftest/metric"
	"github.com/perfgate/perfgate/perftest/resultfile"
)

// testOptions are perfgate's: the directions and thresholds of its vocabulary.
var testOptions = OptionsFor(nil, 0, 0)

var testConfig = []resultfile.KV{{Key: "goos", Value: "linux"}, {Key: "backend", Value: "mock"}, {Key: "model", Value: "m"}, {Key: "workload", Value: "synthetic"}, {Key: "fingerprint", Value: "abc"}, {Key: "load", Value: "concurrency=4"}}

// synth builds a result file whose metrics are centre*(1+shift) with 1% noise.
func synth(seed uint64, n int, shift map[string]float64) *resultfile.File {
	rng := rand.New(rand.NewPCG(seed, 1))
	base := map[string]float64{"ttft-p50-sec": 0.020, "itl-p50-sec": 0.005, "e2e-p50-sec": 0.5, "req/s": 30, "error-rate": 0}
	units := []string{"ttft-p50-sec", "itl-p50-sec", "e2e-p50-sec", "req/s", "error-rate"}
	f := &resultfile.File{Path: "mem", Name: "PerfX", Config: testConfig, Units: units, LowerBetter: map[string]bool{}}
	for _, u := range units {
		f.LowerBetter[u] = testOptions.Units[u].LowerBetter
	}
	for range n {
		var ms []resultfile.Metric
		for _, u := range units {
			ms = append(ms, resultfile.Metric{Unit: u, Value: base[u] * (1 + shift[u]) * (1 + 0.01*rng.NormFloat64())})
		}
		f.Reps = append(f.Reps, resultfile.Rep{Iters: 100, Metrics: ms})
	}
	return f
}

func verdicts(rep *Report) map[string]Verdict {
	out := map[string]Verdict{}
	for _, d := range rep.Deltas {
		out[d.Unit] = d.Verdict
	}
	return out
}

func TestCompareDetectsShift(t *testing.T) {
	rep := Compare(synth(1, 10, nil), synth(2, 10, map[string]float64{"itl-p50-sec": 0.20, "req/s": 0.10}), testOptions)
	v := verdicts(rep)
	assert.Equal(t, Regression, v["itl-p50-sec"])
	assert.Equal(t, Improvement, v["req/s"], "more requests per second is better")
	assert.Equal(t, Unchanged, v["ttft-p50-sec"])
	assert.Equal(t, Unchanged, v["error-rate"])
	require.Len(t, rep.Regressions(), 1)
	d := rep.Regressions()[0]
	assert.InDelta(t, 0.20, d.Change, 0.02)
	assert.GreaterOrEqual(t, d.PAdj, d.P/2, "Holm never lowers a one-sided p-value")
	assert.Contains(t, rep.RegressionList(), "itl-p50-sec +")
	assert.NotContains(t, rep.RegressionList(), "req/s")
}

func TestCompareIgnoresSmallOrInsignificant(t *testing.T) {
	// 2% is significant with 1% noise but under the 5% threshold.
	cur := synth(2, 10, map[string]float64{"itl-p50-sec": 0.02})
	assert.Empty(t, Compare(synth(1, 10, nil), cur, testOptions).Regressions())
	// The same change counts once the threshold is lowered.
	low := Options{Units: map[string]Unit{"itl-p50-sec": {LowerBetter: true, Threshold: 0.01}}}
	assert.Len(t, Compare(synth(1, 10, nil), cur, low).Regressions(), 1)
	// A large change that the ranks cannot separate (3 repetitions a side) does not count.
	assert.Empty(t, Compare(synth(1, 3, nil), synth(2, 3, map[string]float64{"itl-p50-sec": 0.5}), testOptions).Regressions())
}

func TestCompareSampleSizeWarnings(t *testing.T) {
	rep := Compare(synth(1, 3, nil), synth(2, 3, nil), testOptions)
	require.NotEmpty(t, rep.Warnings)
	assert.True(t, errors.Is(rep.Warnings[len(rep.Warnings)-1], ErrNoSignificance))
	assert.Contains(t, rep.Warnings[len(rep.Warnings)-1].Error(), "use at least 4 repetitions a side")
	for _, d := range rep.Deltas {
		assert.True(t, math.IsInf(d.MDE, 1) || math.IsNaN(d.MDE), "%s: no MDE with 3 a side", d.Unit)
	}
	rep = Compare(synth(1, 4, nil), synth(2, 4, nil), testOptions) // 1/70 is not below 0.05/5
	require.NotEmpty(t, rep.Warnings)
	assert.True(t, errors.Is(rep.Warnings[len(rep.Warnings)-1], ErrLoneUndetectable))
	assert.Empty(t, Compare(synth(1, 10, nil), synth(2, 10, nil), testOptions).Warnings)
	// A unit on one side only is named, not compared.
	cur := synth(2, 10, nil)
	cur.Units = append(cur.Units, "tok/s")
	for i := range cur.Reps {
		cur.Reps[i].Metrics = append(cur.Reps[i].Metrics, resultfile.Metric{Unit: "tok/s", Value: 1})
	}
	rep = Compare(synth(1, 10, nil), cur, testOptions)
	require.Len(t, rep.Warnings, 1)
	assert.ErrorIs(t, rep.Warnings[0], ErrOneSided)
	assert.Contains(t, rep.Warnings[0].Error(), "tok/s")
}

func TestCompareNoiseFloorRaisesThreshold(t *testing.T) {
	// 10% noise: the baseline median itself is uncertain by more than 5%.
	noisy := func(seed uint64, shift float64) *resultfile.File {
		f := synth(seed, 10, nil)
		rng := rand.New(rand.NewPCG(seed, 9))
		for i := range f.Reps {
			f.Reps[i].Metrics[1].Value = 0.005 * (1 + shift) * (1 + 0.1*rng.NormFloat64())
		}
		return f
	}
	rep := Compare(noisy(1, 0), noisy(2, 0.06), testOptions)
	d := rep.Deltas[1]
	require.Equal(t, "itl-p50-sec", d.Unit)
	assert.Greater(t, d.NoiseFloor, 0.05)
	assert.Equal(t, d.NoiseFloor, d.Threshold)
	assert.Equal(t, Unchanged, d.Verdict)
	var b strings.Builder
	require.NoError(t, rep.WriteText(&b))
	assert.Contains(t, b.String(), "* threshold raised to the baseline's noise floor")
}

func TestCompareMDE(t *testing.T) {
	// With 1% noise and 10 repetitions a side the MDE is a few percent, set by the
	// threshold; with 3 a side nothing is detectable.
	rep := Compare(synth(1, 10, nil), synth(2, 10, nil), testOptions)
	for _, d := range rep.Deltas {
		if d.Unit == "error-rate" {
			assert.True(t, math.IsNaN(d.MDE), "a zero baseline has no relative MDE")
			continue
		}
		assert.Greater(t, d.MDE, d.Threshold, d.Unit)
		assert.Less(t, d.MDE, 0.06, d.Unit)
	}
}

func TestMDEAgainstSimulation(t *testing.T) {
	// The MDE is the shift that is detected with 80% probability: simulate comparisons at
	// that shift and count. 10 a side, 3% noise, 15 metrics' Holm level, 5% threshold.
	const n, noise, thr = 10, 0.03, 0.05
	lone := 2 * 0.05 / 15
	rng := rand.New(rand.NewPCG(7, 7))
	sample := func(shift float64) []float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = (1 + shift) * (1 + noise*rng.NormFloat64())
		}
		return v
	}
	mde := MDE(n, n, lone, thr, noise*sigmaScale(n, n))
	detected, trials := 0, 2000
	for range trials {
		b, c := fileOf(sample(0)), fileOf(sample(mde))
		opt := Options{Units: map[string]Unit{"x": {LowerBetter: true, Threshold: thr}}}
		d := compareUnit("x", b, c, opt)
		one := d.P / 2
		if d.dir > 0 && one < lone/2 && d.Change > thr {
			detected++
		}
	}
	assert.InDelta(t, MDEPower, float64(detected)/float64(trials), 0.04, "MDE %.4f detected %d of %d", mde, detected, trials)
	// Beyond the table the normal approximations take over smoothly.
	assert.InDelta(t, MDE(30, 30, lone, thr, 0.05), MDE(31, 31, lone, thr, 0.05), 0.05*MDE(30, 30, lone, thr, 0.05))
	assert.True(t, math.IsInf(MDE(3, 3, 0.1, thr, 0.03), 1))
	assert.Equal(t, thr, MDE(10, 10, lone, thr, 0))
}

func fileOf(vals []float64) *resultfile.File {
	f := &resultfile.File{Name: "X", Units: []string{"x"}}
	for _, v := range vals {
		f.Reps = append(f.Reps, resultfile.Rep{Metrics: []resultfile.Metric{{Unit: "x", Value: v}}})
	}
	return f
}

func TestUCritical(t *testing.T) {
	// 10 a side, one-sided alpha 0.05/15 (two-sided 2*0.05/15): the exact U distribution
	// gives P(U <= 14) = 0.00260 < 0.00333 < P(U <= 15) = 0.00342.
	assert.Equal(t, 14, uCritical(10, 10, 2*0.05/15))
	// 4 a side, one-sided 0.05: P(U <= 1) = 2/70 < 0.05 < P(U <= 2) = 4/70.
	assert.Equal(t, 1, uCritical(4, 4, 2*0.05))
	assert.Equal(t, -1, uCritical(3, 3, 2*0.05), "1/20 is not below 0.05")
	assert.InDelta(t, 1.0/70, MinP(4, 4), 1e-15)
	assert.Positive(t, uCritical(60, 60, 0.01), "normal approximation beyond the exact range")
}

func TestMDETableCoversItsRange(t *testing.T) {
	for n2 := 2; n2 <= 30; n2++ {
		for n1 := 2; n1 <= n2; n1++ {
			row := mdeRow(n2, n1)
			require.NotNil(t, row, "%d, %d", n1, n2)
			assert.Equal(t, 0, row.u[0])
			assert.IsIncreasing(t, row.u)
			assert.IsNonIncreasing(t, row.sig, "a larger critical value needs a smaller shift")
		}
	}
	assert.Nil(t, mdeRow(31, 2))
}

func TestCompareDirectionalFamilies(t *testing.T) {
	// A big improvement in one metric does not make a regression in another easier to call:
	// regressions and improvements are separate Holm families.
	rep := Compare(synth(1, 10, nil), synth(2, 10, map[string]float64{"req/s": 0.3, "itl-p50-sec": 0.2}), testOptions)
	require.Len(t, rep.Regressions(), 1)
	require.Len(t, rep.Improvements(), 1)
	for _, d := range rep.Deltas {
		assert.InDelta(t, d.P/2, min(d.P/2, d.PAdj), 1e-12, "PAdj is never below the one-sided p")
	}
}

func TestCompareErrorsFromZero(t *testing.T) {
	cur := synth(2, 8, nil)
	for i := range cur.Reps {
		cur.Reps[i].Metrics[4].Value = 0.05
	}
	regs := Compare(synth(1, 8, nil), cur, testOptions).Regressions()
	require.Len(t, regs, 1)
	assert.Equal(t, "error-rate", regs[0].Unit)
	assert.True(t, math.IsInf(regs[0].Change, 1))
}

func TestHolm(t *testing.T) {
	assert.InDeltaSlice(t, []float64{0.04, 0.09, 0.09, 0.5}, holm([]float64{0.01, 0.04, 0.03, 0.5}), 1e-12)
}

func TestDirectionFromOptionsWhenFileHasNone(t *testing.T) {
	b, c := synth(1, 10, nil), synth(2, 10, map[string]float64{"req/s": -0.2})
	b.LowerBetter, c.LowerBetter = map[string]bool{}, map[string]bool{}
	assert.Equal(t, Regression, verdicts(Compare(b, c, testOptions))["req/s"], "fewer requests per second is worse")
	assert.Equal(t, Improvement, verdicts(Compare(b, c, Options{}))["req/s"], "an unknown unit is lower-is-better")
}

func TestWriteGolden(t *testing.T) {
	base, err := resultfile.Read("testdata/base.txt")
	require.NoError(t, err)
	for _, cur := range []string{"slower", "same", "few"} {
		c, err := resultfile.Read("testdata/" + cur + ".txt")
		require.NoError(t, err)
		rep := Compare(base, c, testOptions)
		for _, format := range []string{"text", "markdown", "json"} {
			var b bytes.Buffer
			require.NoError(t, rep.Write(&b, format))
			golden.Check(t, cur+"."+format+".golden", b.Bytes())
		}
	}
	var b bytes.Buffer
	assert.ErrorContains(t, Compare(base, base, testOptions).Write(&b, "xml"), `unknown format "xml"`)
}

func TestAppendMarkdown(t *testing.T) {
	path := filepath.Join(t.TempDir(), "summary.md")
	rep := Compare(synth(1, 10, nil), synth(2, 10, map[string]float64{"itl-p50-sec": 0.2}), testOptions)
	require.NoError(t, rep.AppendMarkdown(path))
	require.NoError(t, rep.AppendMarkdown(path))
	md, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, 2, strings.Count(string(md), "### perfgate: PerfX: 1 metric regressed"))
	assert.Contains(t, string(md), "| `itl-p50-sec` |")
}

// BenchmarkCompareLarge compares large files: the comparison must stay O(n log n) per
// metric (it once simulated n1 x n2 values). cmd/perfgate's BenchmarkCompareProcess
// measures the whole command, with reading the files and its peak memory.
func BenchmarkCompareLarge(b *testing.B) {
	for _, n := range [][2]int{{20000, 20000}, {10, 400000}} {
		x, y := synth(1, n[0], nil), synth(2, n[1], nil)
		b.Run(fmt.Sprintf("%dx%d", n[0], n[1]), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Compare(x, y, testOptions)
			}
		})
	}
}

// countdown is a context that is done once its Err has been asked n times.
type countdown struct {
	context.Context
	n int
}

func (c *countdown) Err() error {
	if c.n--; c.n < 0 {
		return context.Canceled
	}
	return nil
}

func TestCompareContextStopsBetweenMetrics(t *testing.T) {
	base, cur := synth(1, 10, nil), synth(2, 10, nil)
	ctx, cancel := context.WithCancelCause(t.Context())
	cause := errors.New("interrupt signal received")
	cancel(cause)
	rep, err := CompareContext(ctx, base, cur, testOptions)
	assert.Nil(t, rep)
	assert.Equal(t, cause, err, "the cause says why")
	// It asks before each metric's test and each metric's MDE: 5 + 5 times here. Done at
	// any of them, it stops there.
	for n := range 10 {
		rep, err := CompareContext(&countdown{t.Context(), n}, base, cur, testOptions)
		assert.Nil(t, rep, "done after %d checks", n)
		assert.ErrorIs(t, err, context.Canceled)
	}
	rep, err = CompareContext(&countdown{t.Context(), 10}, base, cur, testOptions)
	require.NoError(t, err)
	var want, got bytes.Buffer
	require.NoError(t, Compare(base, cur, testOptions).WriteJSON(&want))
	require.NoError(t, rep.WriteJSON(&got))
	assert.Equal(t, want.String(), got.String())
}

func TestOptionsFor(t *testing.T) {
	opt := OptionsFor(nil, 0.01, 0)
	assert.Equal(t, 0.01, opt.Alpha)
	assert.Equal(t, Unit{LowerBetter: true, Threshold: 0.12}, opt.Units[metric.ITLP99])
	assert.Equal(t, Unit{LowerBetter: true, Percent: true}, opt.Units[metric.ErrorRate], "any significant rise of the error rate")
	assert.Equal(t, Unit{Threshold: 0.05}, opt.Units[metric.TokenRate])
	assert.NotContains(t, opt.Units, metric.GPUUtil, "figures are not tested")
	assert.True(t, opt.Figure(metric.GPUUtil) && opt.Figure(metric.MachineSteal) && !opt.Figure(metric.TTFTP50))
	assert.Equal(t, 0.03, OptionsFor(nil, 0, 0.03).Units[metric.ErrorRate].Threshold, "a threshold above 0 replaces every metric's")

	set, err := metric.Default().With(metric.Def{Name: "x-per-draft", Kind: metric.Count, Threshold: 0.2})
	require.NoError(t, err)
	assert.Equal(t, Unit{Threshold: 0.2}, OptionsFor(set, 0, 0).Units["x-per-draft"])
}

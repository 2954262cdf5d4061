package gate

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/internal/golden"
	"github.com/perfgate/perfgate/perftest/resultfile"
)

// withFigure adds a machine figure of the given median to every repetition of f.
func withFigure(f *resultfile.File, unit string, median float64, seed uint64) *resultfile.File {
	rng := rand.New(rand.NewPCG(seed, 7))
	f.Units = append(f.Units, unit)
	for i := range f.Reps {
		f.Reps[i].Metrics = append(f.Reps[i].Metrics, resultfile.Metric{Unit: unit, Value: median * (1 + 0.05*rng.NormFloat64())})
	}
	return f
}

// noiseOptions judges the machines by a fake model: the side with the larger
// machine-load median is busier, and it explains exp[unit] of a change.
func noiseOptions(exp map[string]float64) Options {
	opt := testOptions
	opt.Figure = func(u string) bool { return strings.HasPrefix(u, "machine-") }
	opt.Noise = func(base, cur *resultfile.File) Noise {
		b, c := base.Values("machine-load"), cur.Values("machine-load")
		n := Noise{Summary: "fake figures", Why: "load", Explain: func(u string) float64 { return exp[u] }}
		switch {
		case len(b) == 0 && len(c) > 0:
			n.Missing = "baseline"
		case b[0] < c[0]/2:
			n.Busier = 1
		case c[0] < b[0]/2:
			n.Busier = -1
		}
		return n
	}
	return opt
}

func TestBusierMachineMakesExplainedRegressionsInconclusive(t *testing.T) {
	opt := noiseOptions(map[string]float64{"itl-p50-sec": 0.30, "e2e-p50-sec": 0.02, "req/s": 0.02})
	base := withFigure(synth(1, 10, nil), "machine-load", 0.1, 1)
	cur := withFigure(synth(2, 10, map[string]float64{"itl-p50-sec": 0.25, "e2e-p50-sec": 0.20}), "machine-load", 1.5, 2)
	rep := Compare(base, cur, opt)
	v := verdicts(rep)
	assert.Equal(t, Inconclusive, v["itl-p50-sec"], "+25%, of which the machine explains 30%")
	assert.Equal(t, Regression, v["e2e-p50-sec"], "+20%, of which the machine explains 2%: still beyond the 5% threshold")
	assert.Equal(t, Unchanged, v["machine-load"])
	require.NotNil(t, rep.Noise)
	assert.True(t, errors.Is(rep.Warnings[len(rep.Warnings)-1], ErrBusierMachine))
	assert.Contains(t, rep.InconclusiveList(), "itl-p50-sec +")
	assert.Contains(t, rep.InconclusiveList(), "explains up to 30%")
	assert.NotContains(t, rep.RegressionList(), "itl-p50-sec")
	assert.True(t, rep.Decided(), "a regression decides")
	last := rep.Deltas[len(rep.Deltas)-1]
	assert.True(t, last.Figure, "figures come after the metrics")
	assert.Equal(t, 1.0, last.PAdj, "figures are not tested")

	// Without the regression beyond the noise, the title says inconclusive.
	cur2 := withFigure(synth(2, 10, map[string]float64{"itl-p50-sec": 0.25}), "machine-load", 1.5, 2)
	rep2 := Compare(base, cur2, opt)
	assert.Empty(t, rep2.Regressions())
	assert.Equal(t, "PerfX: no regression, 1 metric INCONCLUSIVE (busier machine)", rep2.Title())
	for _, format := range []string{"text", "markdown", "json"} {
		var b bytes.Buffer
		require.NoError(t, rep2.Write(&b, format))
		golden.Check(t, "busier."+format+".golden", b.Bytes())
	}
}

func TestBusierBaselineHidesAndExcuses(t *testing.T) {
	opt := noiseOptions(map[string]float64{"itl-p50-sec": 0.30, "req/s": 0.10})
	base := withFigure(synth(1, 10, nil), "machine-load", 1.5, 1)
	cur := withFigure(synth(2, 10, map[string]float64{"itl-p50-sec": -0.20}), "machine-load", 0.1, 2)
	rep := Compare(base, cur, opt)
	v := verdicts(rep)
	assert.Equal(t, Unchanged, v["itl-p50-sec"], "an improvement the quieter machine explains")
	w := rep.Warnings[len(rep.Warnings)-1]
	assert.True(t, errors.Is(w, ErrBusierBaseline))
	assert.Contains(t, w.Error(), "the improvements it can explain are not called improvements (itl-p50-sec)")
	assert.Contains(t, w.Error(), "regressions up to req/s 10% may be hidden")
}

func TestMissingFiguresAreSaid(t *testing.T) {
	opt := noiseOptions(nil)
	rep := Compare(synth(1, 10, nil), withFigure(synth(2, 10, nil), "machine-load", 1, 2), opt)
	require.NotEmpty(t, rep.Warnings)
	w := rep.Warnings[len(rep.Warnings)-1]
	assert.True(t, errors.Is(w, ErrNoMachineFigures))
	assert.Contains(t, w.Error(), "in the baseline run")
	for _, err := range rep.Warnings {
		assert.False(t, errors.Is(err, ErrOneSided), "a figure on one side is not a metric missing: %v", err)
	}
	for _, d := range rep.Deltas {
		assert.NotEqual(t, Inconclusive, d.Verdict)
	}
}

func TestUndecided(t *testing.T) {
	// +4% on a 1%-noise metric with 3 repetitions a side: beyond the threshold of 3%, but
	// the rank test cannot reach significance.
	opt := testOptions
	opt.Threshold = 0.03
	opt.Units = map[string]Unit{"itl-p50-sec": {LowerBetter: true, Threshold: 0.03}}
	rep := Compare(synth(1, 3, nil), synth(2, 3, map[string]float64{"itl-p50-sec": 0.06}), opt)
	assert.False(t, rep.Decided())
	assert.Contains(t, strings.Join(rep.Undecided(), "\n"), "itl-p50-sec +")
	rep = Compare(synth(1, 10, nil), synth(2, 10, nil), testOptions)
	assert.True(t, rep.Decided(), "%v", rep.Undecided())
}

// A baseline that comes in levels (peak KV usage in blocks) floors its threshold at the
// level it reached in a tenth of its repetitions: an unchanged run at the baseline's upper
// level is not a regression, one a level above the baseline's highest is.
func TestLevelFloor(t *testing.T) {
	var base []float64
	for i := range 30 {
		v := 0.0134888
		if i%3 == 0 || i == 29 {
			v = 0.0169678 // 11 of 30 at the upper level
		}
		base = append(base, v)
	}
	opt := Options{Alpha: 0.05, Units: map[string]Unit{"server-kv-peak": {LowerBetter: true, Threshold: 0.10}}}
	at := func(v float64, n int) Verdict {
		b, c := &resultfile.File{Units: []string{"server-kv-peak"}}, &resultfile.File{Units: []string{"server-kv-peak"}}
		for _, x := range base {
			b.Reps = append(b.Reps, resultfile.Rep{Metrics: []resultfile.Metric{{Unit: "server-kv-peak", Value: x}}})
		}
		for range n {
			c.Reps = append(c.Reps, resultfile.Rep{Metrics: []resultfile.Metric{{Unit: "server-kv-peak", Value: v}}})
		}
		return Compare(b, c, opt).Deltas[0].Verdict
	}
	assert.Equal(t, Unchanged, at(0.0169678, 30), "the baseline's own upper level")
	assert.Equal(t, Regression, at(0.0204468, 30), "a level above the baseline's highest")
	assert.InDelta(t, 0.2579, levelFloor(base, 0.0134888, true), 0.0001)
	assert.Equal(t, 0.0, levelFloor(normals(rand.New(rand.NewPCG(1, 2)), 30, 1, 0.03), 1, true), "continuous values have no levels")
	assert.Equal(t, 0.0, levelFloor(base[:9], 0.0134888, true), "fewer than 10 repetitions")
	assert.InDelta(t, 0.2050, levelFloor(base, 0.0169678, false), 0.0001, "higher is better: down to the 10th percentile")
}

// Both machines saturated (Noise.Both): what they explain is judged neither way, a
// regression INCONCLUSIVE and an improvement unchanged, and the warning says so.
func TestBothSaturatedJudgesNeitherWay(t *testing.T) {
	opt := testOptions
	opt.Noise = func(base, cur *resultfile.File) Noise {
		return Noise{Both: true, Why: "CPU pressure 92% and 95%", Explain: func(u string) float64 {
			if u == "error-rate" {
				return 0
			}
			return math.Inf(1)
		}}
	}
	base := synth(1, 10, nil)
	cur := synth(2, 10, map[string]float64{"itl-p50-sec": 0.31, "e2e-p50-sec": -0.20})
	rep := Compare(base, cur, opt)
	v := verdicts(rep)
	assert.Equal(t, Inconclusive, v["itl-p50-sec"])
	assert.Equal(t, Unchanged, v["e2e-p50-sec"], "no improvement called between two saturated machines")
	require.NotEmpty(t, rep.Warnings)
	last := rep.Warnings[len(rep.Warnings)-1]
	assert.True(t, errors.Is(last, ErrSaturated))
	assert.Contains(t, last.Error(), "no improvement is called (e2e-p50-sec)")

	// JSON has no +Inf: a change of any size explained is explained_any (perfgate compare
	// --format json failed on such a report, 2026-12-08).
	out, err := json.Marshal(rep)
	require.NoError(t, err)
	assert.Contains(t, string(out), `"explained_any":true`)
}

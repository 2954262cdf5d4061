package machine

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/perfgate/perfgate/perftest/gate"
	"github.com/perfgate/perfgate/perftest/metric"
	"github.com/perfgate/perfgate/perftest/resultfile"
)

// lateFile is an open-loop run of n repetitions, its latencies scaled by slower, whose
// client fell behind its schedule in the first late repetitions, which sent late enough to
// add 20% to TTFT and end-to-end latency and take 10% off the request rate.
func lateFile(seed uint64, n, late int, slower float64) *resultfile.File {
	rng := rand.New(rand.NewPCG(seed, 3))
	units := []string{metric.TTFTP50, metric.ITLP50, metric.E2EP50, metric.RequestRate, metric.MachineLate}
	f := &resultfile.File{Name: "PerfPoisson", Units: units}
	for i := range n {
		noise := func(v float64) float64 { return v * (1 + 0.01*rng.NormFloat64()) }
		lateness, lag := 0.0, 1.0
		if i < late {
			lateness, lag = 1, 1.2
		}
		f.Reps = append(f.Reps, resultfile.Rep{Metrics: []resultfile.Metric{
			{Unit: metric.TTFTP50, Value: noise(0.02 * slower * lag)}, {Unit: metric.ITLP50, Value: noise(0.005 * slower)},
			{Unit: metric.E2EP50, Value: noise(0.5 * slower * lag)}, {Unit: metric.RequestRate, Value: noise(30 / slower / lag)},
			{Unit: metric.MachineLate, Value: lateness}}})
	}
	return f
}

// A client that fell behind its schedule (issue 22: a Poisson case on a loaded 2-core
// machine) is machine evidence: a regression of the latencies counted from the due time
// and of the rates is INCONCLUSIVE, not a failure, and the gaps between tokens, which the
// send lag does not touch, are still judged.
func TestLateClientIsMachineEvidence(t *testing.T) {
	base := lateFile(1, 10, 0, 1)
	cur := lateFile(2, 10, 4, 1.3)
	c := Compare(base, cur, nil)
	assert.Equal(t, 1, c.Busier)
	assert.Contains(t, c.Why, "the client fell behind its schedule (schedule lag p99 over Case.MaxScheduleLag, -perf.max-schedule-lag) in 4 of 10 current and 0 of 10 baseline repetitions")
	assert.True(t, math.IsInf(c.Explain(metric.TTFTP50), 1))
	assert.True(t, math.IsInf(c.Explain(metric.RequestRate), 1))
	assert.Zero(t, c.Explain(metric.ITLP50), "the send lag does not touch the gaps between tokens")
	assert.Zero(t, c.Explain(metric.TPOTP50))

	opt := gate.OptionsFor(nil, 0, 0)
	opt.Noise = GateNoise(nil)
	rep := gate.Compare(base, cur, opt)
	got := map[string]gate.Verdict{}
	for _, d := range rep.Deltas {
		got[d.Unit] = d.Verdict
	}
	assert.Equal(t, gate.Inconclusive, got[metric.TTFTP50])
	assert.Equal(t, gate.Inconclusive, got[metric.E2EP50])
	assert.Equal(t, gate.Inconclusive, got[metric.RequestRate])
	assert.Equal(t, gate.Regression, got[metric.ITLP50], "a 30% slower decode is never a silent pass")

	// Unchanged but late: never a FAIL.
	rep = gate.Compare(base, lateFile(3, 10, 10, 1), opt)
	assert.Empty(t, rep.Regressions())
	assert.Len(t, rep.Inconclusives(), 3, "TTFT, end-to-end and the request rate")

	// The same share of late repetitions on both sides is no evidence either way; a
	// baseline that was late more often is the busier side.
	assert.Zero(t, Compare(lateFile(1, 10, 2, 1), lateFile(2, 10, 2, 1), nil).Busier)
	assert.Equal(t, -1, Compare(lateFile(1, 10, 3, 1), lateFile(2, 10, 1, 1), nil).Busier)
}

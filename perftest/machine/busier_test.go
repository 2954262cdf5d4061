package machine

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/perfgate/perfgate/perftest/metric"
	"github.com/perfgate/perfgate/perftest/resultfile"
)

// hostFile is a simulator run of n repetitions with these host figures (a little spread
// so that the rank test can order them).
func hostFile(n int, others, pressure, steal float64) *resultfile.File {
	f := &resultfile.File{
		Units:  []string{metric.ITLP90, metric.MachineOthersCPU, metric.MachinePressure, metric.MachineSteal},
		Config: []resultfile.KV{{Key: "backend", Value: "mock"}},
	}
	for i := range n {
		e := 0.001 * float64(i)
		f.Reps = append(f.Reps, resultfile.Rep{Metrics: []resultfile.Metric{
			{Unit: metric.ITLP90, Value: 0.0054}, {Unit: metric.MachineOthersCPU, Value: others + e},
			{Unit: metric.MachinePressure, Value: pressure + e}, {Unit: metric.MachineSteal, Value: steal + e/10}}})
	}
	return f
}

// When each side is busier in some figure, the far more material difference decides: a
// baseline on a VM with 2% steal against a current run beside two busy loops (1.9 cores of
// other processes) is a busier current run (the container case, 2026-12-08: itl-p90 +22.6%
// was a REGRESSION while the 2% steal cancelled the busy loops out).
func TestBusierByTheMoreMaterialFigure(t *testing.T) {
	base, cur := hostFile(30, 0.22, 0.12, 0.0204), hostFile(5, 1.89, 0.47, 0)
	c := Compare(base, cur, nil)
	assert.Equal(t, 1, c.Busier)
	assert.Contains(t, c.Why, "other processes' CPU, CPU pressure; 6.6x material against the baseline's steal at 1.1x")
	assert.True(t, math.IsInf(c.Explain(metric.ITLP90), 1), "a simulator on the crowded side: its timings follow the load")

	c = Compare(cur, base, nil)
	assert.Equal(t, -1, c.Busier, "the same the other way round")

	// Comparable differences both ways: neither side is the busier.
	c = Compare(hostFile(30, 0.2, 0.12, 0.06), hostFile(10, 0.6, 0.12, 0), nil)
	assert.Zero(t, c.Busier, c.Why)
}

// The client's wake-up delay is evidence of load where the CPU figures find none: a
// baseline recorded while other processes came and went (0 to 1.8 cores: no busier or
// calmer by the CPU figures than a run beside one busy loop) against a run whose probe
// woke 83 µs later on average (PerfSpeculative, 2026-12-08: its 0.9 ms itl-p50 5.3%
// slower, a REGRESSION before).
func TestWakeDelayMakesASideBusier(t *testing.T) {
	file := func(n int, others func(i int) float64, wake float64) *resultfile.File {
		f := &resultfile.File{Units: []string{metric.ITLP50, metric.MachineOthersCPU, metric.MachineWakeP50, metric.MachineWakeMean}}
		for i := range n {
			f.Reps = append(f.Reps, resultfile.Rep{Metrics: []resultfile.Metric{
				{Unit: metric.ITLP50, Value: 0.0009125}, {Unit: metric.MachineOthersCPU, Value: others(i)},
				{Unit: metric.MachineWakeP50, Value: wake * 0.62}, {Unit: metric.MachineWakeMean, Value: wake + 1e-6*float64(i)}}})
		}
		return f
	}
	base := file(30, func(i int) float64 { return 0.06 * float64(i) }, 166e-6)
	cur := file(5, func(i int) float64 { return 1.05 + 0.002*float64(i) }, 249e-6)
	c := Compare(base, cur, nil)
	assert.Equal(t, 1, c.Busier)
	assert.Equal(t, "wake-up delay", c.Why)
	assert.Greater(t, c.Explain(metric.ITLP50), 0.0532, "the 5.3% slower itl-p50")

	c = Compare(base, file(5, func(i int) float64 { return 1.05 + 0.002*float64(i) }, 190e-6), nil)
	assert.Zero(t, c.Busier, "24 µs more is not material")

	// Where the CPU figures decide, the probe does not overrule them: other processes 0.5
	// cores more on the current side, the probe 84 µs slower on the baseline's.
	c = Compare(file(30, func(i int) float64 { return 0.1 + 0.001*float64(i) }, 250e-6),
		file(5, func(i int) float64 { return 0.6 + 0.001*float64(i) }, 166e-6), nil)
	assert.Equal(t, 1, c.Busier)
	assert.Equal(t, "other processes' CPU", c.Why)
}

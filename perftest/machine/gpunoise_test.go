package machine

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/perfgate/perfgate/perftest/metric"
	"github.com/perfgate/perfgate/perftest/resultfile"
)

// TestThrottleNoise: a GPU at its power cap in every repetition of both sides is the
// setup, not noise; one repetition more or less capped, or a thermal reason on one side,
// is noise.
func TestThrottleNoise(t *testing.T) {
	all := func(n int, r ThrottleReasons) []ThrottledRep {
		var out []ThrottledRep
		for i := range n {
			out = append(out, ThrottledRep{Rep: i, Share: 1, Reasons: r})
		}
		return out
	}
	capped := ThrottleSWPowerCap | ThrottleGPUIdle
	assert.False(t, throttleNoise(all(10, capped), all(10, ThrottleSWPowerCap), 10, 10), "the same slowdown everywhere")
	assert.True(t, throttleNoise(all(10, capped), all(9, capped), 10, 10), "one repetition not capped")
	assert.True(t, throttleNoise(all(10, capped), all(10, capped|ThrottleSWThermalSlowdown), 10, 10), "a thermal slowdown on one side")
	assert.True(t, throttleNoise(nil, all(1, capped), 10, 10))
	assert.False(t, throttleNoise(nil, nil, 10, 10))
}

// gpuFile is a run of n repetitions with GPU telemetry: SM clock 1980 MHz, except the
// repetitions in throttled, whose lowest clock is the given one, with a thermal slowdown.
func gpuFile(n int, throttled map[int]float64) *resultfile.File {
	f := &resultfile.File{Units: []string{"itl-p50-sec", metric.GPUSMClock, metric.GPUSMClockMin, metric.GPUThrottled, metric.GPUThrottleMask}}
	for i := range n {
		low, share, mask := 1980.0, 0.0, 0.0
		if c, ok := throttled[i]; ok {
			low, share, mask = c, 0.5, float64(ThrottleSWThermalSlowdown)
		}
		f.Reps = append(f.Reps, resultfile.Rep{Metrics: []resultfile.Metric{{Unit: "itl-p50-sec", Value: 0.005},
			{Unit: metric.GPUSMClock, Value: 1980}, {Unit: metric.GPUSMClockMin, Value: low}, {Unit: metric.GPUThrottled, Value: share}, {Unit: metric.GPUThrottleMask, Value: mask}}})
	}
	return f
}

func TestGPUThrottleExplainsItsClockSlowdown(t *testing.T) {
	c := Compare(gpuFile(10, nil), gpuFile(10, map[int]float64{3: 1320}), nil)
	assert.Equal(t, 1, c.Busier)
	assert.Contains(t, c.Why, "GPU throttled: current repetition 4 (sw_thermal_slowdown in 50% of readings)")
	assert.InDelta(t, 1980.0/1320-1, c.Explain("itl-p50-sec"), 1e-9, "the clock fell by a third: latencies up to 50%")
	assert.InDelta(t, 0.5, c.Explain("tok/s"), 1e-9)
	assert.Zero(t, c.Explain("error-rate"))

	c = Compare(gpuFile(10, map[int]float64{0: 990}), gpuFile(10, nil), nil)
	assert.Equal(t, -1, c.Busier, "the baseline's GPU throttled")

	noClock := gpuFile(10, nil)
	for i := range noClock.Reps {
		noClock.Reps[i].Metrics = noClock.Reps[i].Metrics[:1]
	}
	c = Compare(noClock, gpuFile(10, map[int]float64{2: 1000}), nil)
	assert.True(t, math.IsInf(c.Explain("itl-p50-sec"), 1), "no clocks to compare: everything is explained")
}

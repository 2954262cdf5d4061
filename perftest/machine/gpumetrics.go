package machine

import (
	"fmt"
	"math"
	"strings"

	"github.com/perfgate/perfgate/perftest/metric"
	"github.com/perfgate/perfgate/perftest/resultfile"
)

// IsTelemetry reports whether a unit is one of the machine's GPU figures, which describe
// the machine rather than the code under test.
func IsTelemetry(unit string) bool { return strings.HasPrefix(unit, metric.GPUPrefix) }

// Metrics returns the stats as result metrics, one per figure nvidia-smi gave; none when
// nothing was sampled. The result file then says there was no telemetry by lacking them
// (and the runner should log Note once).
func (s GPUStats) Metrics() []resultfile.Metric {
	if !s.Sampled {
		return nil
	}
	var m []resultfile.Metric
	for _, f := range []struct {
		unit string
		v    float64
	}{
		{metric.GPUSMClock, s.SMClockMHz}, {metric.GPUSMClockMin, s.MinSMClockMHz}, {metric.GPUMemClock, s.MemClockMHz},
		{metric.GPUPower, s.PowerW}, {metric.GPUPowerPeak, s.PeakPowerW}, {metric.GPUTempMax, s.MaxTempC},
		{metric.GPUMemPeak, s.PeakMemUsedMiB}, {metric.GPUUtil, s.UtilPct},
		{metric.GPUThrottled, float64(s.ThrottledReadings) / float64(s.Readings)},
		{metric.GPUThrottleMask, float64(s.Reasons)},
	} {
		if !math.IsNaN(f.v) {
			m = append(m, resultfile.Metric{Unit: f.unit, Value: f.v})
		}
	}
	return m
}

// ThrottledRep is a repetition of a result file in which a GPU slowed down.
type ThrottledRep struct {
	Rep     int             // 0-based index of the repetition in the file
	Share   float64         // share of its readings with a Slowdowns reason active
	Reasons ThrottleReasons // every reason active (Slowdowns and others)
}

func (t ThrottledRep) String() string {
	return fmt.Sprintf("repetition %d (%s in %.0f%% of readings)", t.Rep+1, t.Reasons&Slowdowns, 100*t.Share)
}

// Throttled lists the repetitions of f whose GPU telemetry shows a slowdown (power cap,
// thermal, hardware slowdown, power brake); nil when none did or f has no telemetry. A
// regression measured across such a repetition may be the machine's, not the code's: the
// gate should call it inconclusive.
func Throttled(f *resultfile.File) []ThrottledRep {
	var out []ThrottledRep
	for i, r := range f.Reps {
		t := ThrottledRep{Rep: i}
		for _, m := range r.Metrics {
			switch m.Unit {
			case metric.GPUThrottled:
				t.Share = m.Value
			case metric.GPUThrottleMask:
				t.Reasons = ThrottleReasons(m.Value)
			}
		}
		if t.Share > 0 {
			out = append(out, t)
		}
	}
	return out
}

// HasTelemetry reports whether f carries GPU telemetry.
func HasTelemetry(f *resultfile.File) bool {
	for _, u := range f.Units {
		if IsTelemetry(u) {
			return true
		}
	}
	return false
}

package machine

import (
	"fmt"
	"math"
	"strings"

	"github.com/perfgate/perfgate/perftest/resultfile"
)

// Units of the GPU metrics a repetition's result line carries (GPUStats.Metrics). They
// describe the machine, not the code under test: the gate reports them and never gates on
// them (IsTelemetry).
const (
	UnitGPUSMClock      = "gpu-sm-clock-mhz"     // mean SM clock
	UnitGPUSMClockMin   = "gpu-sm-clock-min-mhz" // lowest SM clock read
	UnitGPUMemClock     = "gpu-mem-clock-mhz"    // mean memory clock
	UnitGPUPower        = "gpu-power-watts"      // mean power draw per GPU
	UnitGPUPowerPeak    = "gpu-power-peak-watts" // highest power draw read
	UnitGPUTempMax      = "gpu-temp-max-celsius" // highest temperature read
	UnitGPUMemPeak      = "gpu-mem-peak-mib"     // most memory used
	UnitGPUUtil         = "gpu-util-percent"     // mean utilization
	UnitGPUThrottled    = "gpu-throttled"        // share of readings with a Slowdowns reason active
	UnitGPUThrottleMask = "gpu-throttle-reasons" // every reason active in the repetition (bitmask)
	telemetryPrefix     = "gpu-"
)

// IsTelemetry reports whether a unit is one of the machine's GPU figures, which describe
// the machine rather than the code under test.
func IsTelemetry(unit string) bool { return strings.HasPrefix(unit, telemetryPrefix) }

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
		{UnitGPUSMClock, s.SMClockMHz}, {UnitGPUSMClockMin, s.MinSMClockMHz}, {UnitGPUMemClock, s.MemClockMHz},
		{UnitGPUPower, s.PowerW}, {UnitGPUPowerPeak, s.PeakPowerW}, {UnitGPUTempMax, s.MaxTempC},
		{UnitGPUMemPeak, s.PeakMemUsedMiB}, {UnitGPUUtil, s.UtilPct},
		{UnitGPUThrottled, float64(s.ThrottledReadings) / float64(s.Readings)},
		{UnitGPUThrottleMask, float64(s.Reasons)},
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
			case UnitGPUThrottled:
				t.Share = m.Value
			case UnitGPUThrottleMask:
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

package machine

import (
	"math"
	"strings"

	"github.com/perfgate/perfgate/perftest/internal/robust"
	"github.com/perfgate/perfgate/perftest/metric"
	"github.com/perfgate/perfgate/perftest/resultfile"
)

// gpuNoise judges two runs' GPU telemetry: a GPU that slowed down (power cap, thermal,
// hardware slowdown, power brake) in some repetition of one side makes that side the
// busier, unless every repetition of both sides was held back for the same reasons (a GPU
// at its power cap all along is part of the setup). side is +1 for the current run, -1 for
// the baseline, 0 for no noise; slowdown is how much slower the throttled side's GPU ran,
// from the other side's median SM clock over the lowest SM clock of the throttled
// repetitions (+Inf when the clocks were not read), and why names the repetitions.
func gpuNoise(base, cur *resultfile.File) (side int, slowdown float64, why string) {
	tb, tc := Throttled(base), Throttled(cur)
	if !throttleNoise(tb, tc, len(base.Reps), len(cur.Reps)) {
		return 0, 0, ""
	}
	share := func(ts []ThrottledRep) float64 {
		s := 0.0
		for _, t := range ts {
			s += t.Share
		}
		return s
	}
	busy, calm, ts := cur, base, tc
	side = 1
	if share(tb) > share(tc) {
		busy, calm, ts, side = base, cur, tb, -1
	}
	lowest := math.Inf(1)
	for _, t := range ts {
		for _, m := range busy.Reps[t.Rep].Metrics {
			if m.Unit == metric.GPUSMClockMin && m.Value > 0 {
				lowest = min(lowest, m.Value)
			}
		}
	}
	slowdown = math.Inf(1)
	if ref := robust.Median(calm.Values(metric.GPUSMClock)); ref > 0 && !math.IsInf(lowest, 1) {
		slowdown = max(0, ref/lowest-1)
	}
	return side, slowdown, "GPU throttled: " + throttleText(tb, tc)
}

// throttleNoise reports whether throttling makes the sides unlike: some repetition
// throttled, unless every repetition of both throttled for the same reasons.
func throttleNoise(base, cur []ThrottledRep, nBase, nCur int) bool {
	if len(base)+len(cur) == 0 {
		return false
	}
	if len(base) != nBase || len(cur) != nCur {
		return true
	}
	want := base[0].Reasons & Slowdowns
	for _, t := range append(base[1:], cur...) {
		if t.Reasons&Slowdowns != want {
			return true
		}
	}
	return false
}

func throttleText(base, cur []ThrottledRep) string {
	var parts []string
	for _, t := range []struct {
		side string
		reps []ThrottledRep
	}{{"baseline", base}, {"current", cur}} {
		if len(t.reps) == 0 {
			continue
		}
		var rs []string
		for _, r := range t.reps {
			rs = append(rs, r.String())
		}
		parts = append(parts, t.side+" "+strings.Join(rs, ", "))
	}
	return strings.Join(parts, "; ")
}

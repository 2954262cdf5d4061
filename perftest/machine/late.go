package machine

import (
	"fmt"
	"strings"

	"github.com/perfgate/perfgate/perftest/metric"
	"github.com/perfgate/perfgate/perftest/resultfile"
)

// lateReps counts the repetitions of an open-loop run whose client fell behind its
// schedule (metric.MachineLate).
func lateReps(f *resultfile.File) int {
	n := 0
	for _, v := range f.Values(metric.MachineLate) {
		if v > 0 {
			n++
		}
	}
	return n
}

// lateNoise compares how often each side's client fell behind its schedule: the side with
// the larger share of late repetitions is the busier (+1 current, -1 baseline, 0 neither),
// and why says so. A client that cannot send on time is evidence of a busy machine, as the
// wake-up delay is.
func lateNoise(base, cur *resultfile.File) (side int, why string) {
	lb, lc := lateReps(base), lateReps(cur)
	nb, nc := len(base.Reps), len(cur.Reps)
	switch {
	case lb+lc == 0 || nb == 0 || nc == 0 || lc*nb == lb*nc:
		return 0, ""
	case lc*nb > lb*nc:
		side = 1
	default:
		side = -1
	}
	return side, fmt.Sprintf("the client fell behind its schedule (schedule lag p99 over Case.MaxScheduleLag, -perf.max-schedule-lag) in %d of %d current and %d of %d baseline repetitions", lc, nc, lb, nb)
}

// lateTouches reports whether the schedule lag of a late client moves a metric: the
// latencies counted from when a request was due (TTFT, end-to-end, time to first output)
// and the rates, not the gaps between tokens (ITL, TPOT) nor what the server measures.
func lateTouches(d metric.Def) bool {
	switch {
	case d.Kind == metric.Rate:
		return true
	case d.Unit != metric.Seconds || d.TokenGap || d.Server || d.Kind == metric.Figure:
		return false
	}
	return !strings.HasPrefix(d.Name, "tpot-")
}

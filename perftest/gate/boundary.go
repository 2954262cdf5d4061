package gate

import (
	"fmt"
	"math"
	"slices"

	"github.com/perfgate/perfgate/perftest/internal/robust"
	"github.com/perfgate/perfgate/perftest/resultfile"
)

// The no-change boundary of a sequential design. At each look a metric is settled
// unchanged when the one-sided confidence bound of its change in the worse direction lies
// below its threshold: the bound of the Hodges-Lehmann interval of the shift between the
// two samples (the pairwise differences cur - base at the order statistic the U test's
// distribution gives, the interval that inverts the gate's own rank test), over the
// baseline's median; in a paired comparison the bound of the Hodges-Lehmann interval of
// the pairs' log ratios (the Walsh averages, which invert the signed-rank test). The comparison stops at a look where every gated metric is settled or
// judged (REGRESSION, improvement, INCONCLUSIVE).
//
// Its level: stopping for no change can only take chances to reject away, so it leaves
// the false-alarm rate at alpha (a non-binding futility boundary: the p-values still count
// every planned look). What it risks is calling a real regression "unchanged"; the bound is
// taken at the nominal level whose crossing probability over the design's looks is
// 1 - MDEPower (20%), so a metric regressing by exactly its threshold is settled unchanged
// in at most 20% of runs over all looks together, less the larger the regression: the
// boundary costs no more power than the MDE's 80% already concedes. Every metric must
// settle, an intersection-union rule, so no correction across metrics is needed.

// worseBound is the one-sided (1 - level) confidence bound, in the metric's worse direction,
// of the shift of cur against base: the largest worsening the data do not rule out, in the
// metric's units (negative: they rule out any worsening). +Inf when the samples are too
// small for a bound at this level.
func worseBound(bv, cv []float64, lowerBetter bool, level float64) float64 {
	n1, n2 := len(bv), len(cv)
	if n1 == 0 || n2 == 0 || !(level > 0 && level < 0.5) {
		return math.Inf(1)
	}
	n := float64(n1) * float64(n2)
	// The k-th smallest of the n1 n2 differences bounds the shift from below with
	// confidence P(U >= k); U is near normal with mean n/2 and variance n (n1+n2+1)/12
	// (with continuity correction).
	z := -stdNormal.InvCDF(level)
	k := int(math.Floor(n/2 + 0.5 - z*math.Sqrt(n*float64(n1+n2+1)/12)))
	if k < 1 {
		return math.Inf(1)
	}
	if lowerBetter {
		return kthLargestDiff(cv, bv, k) // upper bound of the shift
	}
	return kthLargestDiff(bv, cv, k) // the fall a rate may have: minus the lower bound of the shift
}

// pairedWorseBound is worseBound for a paired metric (Options.Paired): the one-sided
// (1 - level) bound of the median paired change in the worse direction, from the Walsh
// averages of the pairs' differences (the interval that inverts the signed-rank test the
// paired gate uses), as a relative change: exp(bound)-1 of the log ratios, or the
// difference relative to the baseline median where some value is 0 or below. +Inf when
// the pairs are too few for a bound at this level (2^-n, the signed-rank test's smallest
// tail, above level).
func pairedWorseBound(base, cur *resultfile.File, unit string, lowerBetter bool, level float64) float64 {
	diffs, logs := pairDiffs(pairedValues(base, cur, unit))
	if len(diffs) == 0 || !(level > 0 && level < 0.5) || math.Pow(0.5, float64(len(diffs))) > level {
		return math.Inf(1)
	}
	_, lo, hi := walshInterval(diffs, level)
	worse := hi // lower is better: the largest rise not ruled out
	if !lowerBetter {
		worse = -lo // higher is better: the largest fall not ruled out
	}
	if logs {
		if lowerBetter {
			return math.Expm1(worse)
		}
		return -math.Expm1(-worse)
	}
	return worse
}

// kthLargestDiff is the k-th largest of the len(xs) len(ys) differences x - y, found by
// bisecting on the value with an O(n) count of the differences above it, so that files of
// 100,000s of repetitions do not need their differences in memory.
func kthLargestDiff(xs, ys []float64, k int) float64 {
	xs, ys = slices.Sorted(slices.Values(xs)), slices.Sorted(slices.Values(ys))
	// above counts the differences greater than t.
	above := func(t float64) int {
		n, i := 0, 0 // i: the ys below x - t, for ascending x
		for _, x := range xs {
			for i < len(ys) && ys[i] < x-t {
				i++
			}
			n += i
		}
		return n
	}
	lo, hi := xs[0]-ys[len(ys)-1], xs[len(xs)-1]-ys[0]
	if above(lo) < k {
		return lo
	}
	// above(lo) >= k > above(hi): the k-th largest is in (lo, hi].
	for range 200 {
		mid := lo + (hi-lo)/2
		if mid <= lo || mid >= hi {
			break
		}
		if above(mid) >= k {
			lo = mid
		} else {
			hi = mid
		}
	}
	return hi
}

// boundaryLevel is the nominal one-sided level of the no-change bound at a look of ncur
// (current) and nbase (baseline) repetitions.
func (s *Sequential) boundaryLevel(ncur, nbase int) float64 {
	return crossing(s.info(ncur, nbase)).inverse(1 - MDEPower)
}

// Unsettled lists the gated metrics of a look that are neither judged (REGRESSION,
// improvement, INCONCLUSIVE) nor settled unchanged by the no-change boundary, each with the
// worsening its interval still allows: "itl-p99-sec up to +14.2% (threshold 12%)". None:
// the comparison may stop at the boundary.
func (s *Sequential) Unsettled(r *Report) []string {
	level := s.boundaryLevel(len(r.Cur.Reps), len(r.Base.Reps))
	var out []string
	for _, d := range r.Deltas {
		if d.Figure || d.Verdict == Regression || d.Verdict == Improvement || d.Verdict == Inconclusive {
			continue
		}
		var b, centre float64
		if d.Pairs != nil {
			b, centre = pairedWorseBound(r.Base, r.Cur, d.Unit, d.LowerBetter, level), 1
		} else {
			b = worseBound(r.Base.Values(d.Unit), r.Cur.Values(d.Unit), d.LowerBetter, level)
			centre = math.Abs(robust.Median(r.Base.Values(d.Unit)))
		}
		switch {
		case d.Verdict == Undecided || math.IsInf(b, 1):
			out = append(out, fmt.Sprintf("%s: no bound at n=%d+%d", d.Unit, d.NBase, d.NCur))
		case b <= 0 || centre > 0 && b/centre < d.Threshold:
		case centre == 0:
			out = append(out, fmt.Sprintf("%s up to +%.3g from a zero baseline", d.Unit, b))
		default:
			out = append(out, fmt.Sprintf("%s up to %s worse (threshold %s)", d.Unit, fmtChange(b/centre), fmtPct(d.Threshold)))
		}
	}
	return out
}

package gate

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/perfgate/perfgate/perftest/internal/robust"
	"github.com/perfgate/perfgate/perftest/metric"
	"github.com/perfgate/perfgate/perftest/resultfile"
)

// Pairs is the paired analysis of one metric of an A/B run (Options.Paired): repetition i
// of the current side against repetition i of the baseline side, run back to back.
type Pairs struct {
	// N is the number of pairs with a value on both sides.
	N int
	// Log is true when the pairs are compared as log(cur/base), false when some value is 0
	// or below and they are compared as differences relative to the baseline median.
	Log bool
	// Change is the Hodges-Lehmann estimate of the median paired change, as a relative
	// change (exp(HL)-1 of the log ratios), and Lo, Hi its 95% confidence interval from the
	// Walsh averages.
	Change, Lo, Hi float64
}

// PairedOrder describes how an A/B run ordered its repetitions, recorded in the result
// files' metric.KeyABOrder line: blocks of four, every one First (A B B A or B A A B), so
// that every prefix of whole blocks has each side the same number of times at the same mean
// position (a steady drift adds the same to both sides). Pair i is the i-th repetition of
// each side, run back to back. Seed chose First.
type PairedOrder struct {
	First string // "ABBA" or "BAAB"
	Seed  uint64
}

// NewPairedOrder returns the order a seed chooses: its lowest bit picks the first block.
func NewPairedOrder(seed uint64) PairedOrder {
	if seed&1 == 0 {
		return PairedOrder{First: "ABBA", Seed: seed}
	}
	return PairedOrder{First: "BAAB", Seed: seed}
}

// Sides returns the order of the first blocks*4 repetitions, one letter each.
func (o PairedOrder) Sides(blocks int) string {
	return strings.Repeat(o.First, max(blocks, 0))
}

// ConfigValue is the order as its config line's value: "blocks ABBA seed 42".
func (o PairedOrder) ConfigValue() string {
	return fmt.Sprintf("blocks %s seed %d", o.First, o.Seed)
}

// ReadPairedOrder returns the order a result file records in its metric.KeyABOrder line,
// ok false when it has none (a file that is not one side of a paired A/B run).
func ReadPairedOrder(f *resultfile.File) (o PairedOrder, ok bool, err error) {
	v := f.ConfigValue(metric.KeyABOrder)
	if v == "" {
		return o, false, nil
	}
	fields := strings.Fields(v)
	if len(fields) != 4 || fields[0] != "blocks" || fields[2] != "seed" || fields[1] != "ABBA" && fields[1] != "BAAB" {
		return o, false, fmt.Errorf(`%s: config %s: %q is not "blocks ABBA|BAAB seed N"`, f.Path, metric.KeyABOrder, v)
	}
	seed, err := strconv.ParseUint(fields[3], 10, 64)
	if err != nil {
		return o, false, fmt.Errorf("%s: config %s: seed %q: %w", f.Path, metric.KeyABOrder, fields[3], err)
	}
	return PairedOrder{First: fields[1], Seed: seed}, true, nil
}

// pairedValues returns, for each repetition index both files have, the unit's value on
// each side (a repetition without the unit on either side is left out).
func pairedValues(base, cur *resultfile.File, unit string) (bv, cv []float64) {
	find := func(r resultfile.Rep) (float64, bool) {
		for _, m := range r.Metrics {
			if m.Unit == unit {
				return m.Value, true
			}
		}
		return 0, false
	}
	for i := range min(len(base.Reps), len(cur.Reps)) {
		b, okb := find(base.Reps[i])
		c, okc := find(cur.Reps[i])
		if okb && okc {
			bv, cv = append(bv, b), append(cv, c)
		}
	}
	return bv, cv
}

// pairDiffs returns the paired differences: log(c/b) when every value is above 0, else
// (c-b)/|median(b)| (c-b where the median is 0).
func pairDiffs(bv, cv []float64) (d []float64, logs bool) {
	logs = !slices.ContainsFunc(bv, func(v float64) bool { return !(v > 0) }) &&
		!slices.ContainsFunc(cv, func(v float64) bool { return !(v > 0) })
	scale := 1.0
	if !logs {
		if m := math.Abs(robust.Median(bv)); m > 0 {
			scale = m
		}
	}
	d = make([]float64, len(bv))
	for i := range bv {
		if logs {
			d[i] = math.Log(cv[i] / bv[i])
		} else {
			d[i] = (cv[i] - bv[i]) / scale
		}
	}
	return d, logs
}

// pairUnit replaces the unpaired test of d by the paired one: the Wilcoxon signed-rank test
// on the paired differences (one-sided p-values in both directions, P two-sided), the
// Hodges-Lehmann estimate as Change, and the smallest p-value n pairs can reach as MinP.
// The noise floor is 0: the pairs' own spread is in the test and the interval.
func pairUnit(d *Delta, base, cur *resultfile.File) {
	bv, cv := pairedValues(base, cur, d.Unit)
	diffs, logs := pairDiffs(bv, cv)
	greater, less := signedRank(diffs)
	d.P = min(1, 2*min(greater, less))
	d.dir = 0
	switch {
	case greater < less:
		d.dir = 1
	case less < greater:
		d.dir = -1
	}
	d.pWorse, d.pBetter = greater, less
	if !d.LowerBetter {
		d.pWorse, d.pBetter = less, greater
	}
	hl, lo, hi := hodgesLehmann(diffs)
	rel := func(x float64) float64 {
		if logs {
			return math.Expm1(x)
		}
		return x
	}
	d.Pairs = &Pairs{N: len(diffs), Log: logs, Change: rel(hl), Lo: rel(lo), Hi: rel(hi)}
	if len(diffs) > 0 {
		d.Change = d.Pairs.Change
	}
	d.NoiseFloor = 0
	d.Threshold = d.ConfiguredThreshold
	d.MinP = math.Pow(0.5, float64(len(diffs)))
}

// pairedMDE is the smallest relative regression n pairs detect with probability MDEPower
// at the one-sided level a: +Inf when 2^-n, the smallest p-value of the signed-rank test,
// is not below a; else the shift (z(1-a) + z(MDEPower)) sigma sqrt(pi/3) / sqrt(n) of the
// log ratios (the signed-rank test's efficiency against the t test on normal data is 3/pi),
// at least the threshold. sigma is the robust standard deviation of the differences.
func pairedMDE(n int, a, threshold, sigma float64, logs bool) float64 {
	if n == 0 || math.Pow(0.5, float64(n)) >= a {
		return math.Inf(1)
	}
	shift := (stdNormal.InvCDF(1-a) + z80) * sigma * math.Sqrt(math.Pi/3) / math.Sqrt(float64(n))
	if logs {
		shift = math.Expm1(shift)
	}
	return max(threshold, shift)
}

// setPairedMDE sets the MDE of a paired metric at the two-sided level lone.
func setPairedMDE(d *Delta, base, cur *resultfile.File, lone float64) {
	diffs, logs := pairDiffs(pairedValues(base, cur, d.Unit))
	d.MDE = pairedMDE(len(diffs), lone/2, d.Threshold, robust.Sigma(diffs), logs)
}

// lookPValues returns the one-sided p-values "cur is worse" and "cur is better" of an
// earlier look of a sequential design, base and cur cut to that look: the signed-rank
// test's for a paired metric, else the U test's.
func lookPValues(d *Delta, base, cur *resultfile.File) (worse, better float64) {
	if d.Pairs == nil {
		return oneSided(base.Values(d.Unit), cur.Values(d.Unit), d.LowerBetter)
	}
	diffs, _ := pairDiffs(pairedValues(base, cur, d.Unit))
	greater, less := signedRank(diffs)
	if d.LowerBetter {
		return greater, less
	}
	return less, greater
}

package gate

import (
	"errors"
	"fmt"
	"strings"

	"github.com/aclements/go-moremath/mathx"
)

// Warnings are values: each wraps one of these, so callers test them with errors.Is.
var (
	// ErrNoSignificance: at these repetition counts the rank test cannot reach alpha at all,
	// so no change can be significant whatever its size.
	ErrNoSignificance = errors.New("no change can be significant")
	// ErrLoneUndetectable: a metric regressing alone cannot pass Holm's correction at these
	// repetition counts; only changes shared by several metrics can.
	ErrLoneUndetectable = errors.New("a metric regressing alone cannot be detected")
	// ErrOneSided: a unit is in one run only and is not compared.
	ErrOneSided = errors.New("not compared")
	// ErrTest: the rank test could not run on a metric's samples.
	ErrTest = errors.New("rank test failed")
)

// MinP is the smallest one-sided p-value of the exact Mann-Whitney U test with samples of
// n1 and n2 values and no ties: the samples fully separated, 1/C(n1+n2, n1).
func MinP(n1, n2 int) float64 {
	if n1 == 0 || n2 == 0 {
		return 1
	}
	return min(1, 1/mathx.Choose(n1+n2, n1))
}

// repsFor is the fewest repetitions a side at which full separation reaches one-sided p < a.
func repsFor(a float64) int {
	for n := 2; n < 100; n++ {
		if MinP(n, n) < a {
			return n
		}
	}
	return 100
}

// sampleSizeWarnings says plainly when the repetition counts rule verdicts out: below the
// U test's reach at alpha (fewer than 4 a side at 0.05), or below what Holm's correction
// needs for one metric changing alone.
func sampleSizeWarnings(ds []Delta, alpha float64) []error {
	if len(ds) == 0 {
		return nil
	}
	m := len(ds)
	n1, n2 := ds[0].NBase, ds[0].NCur
	for _, d := range ds {
		n1, n2 = min(n1, d.NBase), min(n2, d.NCur)
	}
	p := 0.0 // the largest MinP: MinP(n1, n2) for the rank test, 2^-pairs when paired
	for _, d := range ds {
		p = max(p, d.MinP)
	}
	switch {
	case p >= alpha:
		return []error{fmt.Errorf("with %d baseline and %d current repetitions the smallest p-value the rank test can reach is %.3g, not below alpha %g: %w, whatever its size: UNDECIDED, not a pass; use at least %d repetitions a side (10 recommended, -perf.count)",
			n1, n2, p, alpha, ErrNoSignificance, repsFor(alpha))}
	case p >= alpha/float64(m):
		return []error{fmt.Errorf("with %d baseline and %d current repetitions the smallest p-value is %.3g: after Holm's correction across %d metrics, %w (needs p < %.3g), and Holm's first step needs one that is, so no change can be: UNDECIDED; use at least %d repetitions a side (-perf.count)",
			n1, n2, p, m, ErrLoneUndetectable, alpha/float64(m), repsFor(alpha/float64(m)))}
	}
	return nil
}

// Refusals: a comparison that returns one of these is not a verdict (see Report.Refusal).
var (
	// ErrNothingCompared: the two files share no gated metric.
	ErrNothingCompared = errors.New("no gated metric in common")
	// ErrMissing: gated metrics of the baseline are missing from the current run.
	ErrMissing = errors.New("gated metrics of the baseline are missing from the current run")
)

// Refusal returns why the comparison must not be read as a verdict, nil when it may: the
// files share no gated metric (a baseline recorded before a rename, another tool's file:
// only the machine figures would be compared), or the current run lacks some of the
// baseline's gated metrics (a metric that stopped being measured must not pass unseen).
// The error wraps ErrNothingCompared or ErrMissing and names the metrics.
func (r *Report) Refusal() error {
	tested := 0
	for _, d := range r.Deltas {
		if !d.Figure {
			tested++
		}
	}
	switch {
	case tested == 0:
		return fmt.Errorf("%s and %s: %w: the baseline has %s; the current run has %s",
			r.Base.Path, r.Cur.Path, ErrNothingCompared, listOrNone(r.Missing), listOrNone(r.Added))
	case len(r.Missing) > 0:
		return fmt.Errorf("%s: %w: %s (restore them, or re-record the baseline with -perf.update if they were dropped on purpose)",
			r.Cur.Path, ErrMissing, strings.Join(r.Missing, ", "))
	}
	return nil
}

func listOrNone(units []string) string {
	if len(units) == 0 {
		return "none"
	}
	return strings.Join(units, ", ")
}

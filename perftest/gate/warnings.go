package gate

import (
	"errors"
	"fmt"

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
	p := MinP(n1, n2)
	switch {
	case p >= alpha:
		return []error{fmt.Errorf("with %d baseline and %d current repetitions the smallest p-value the rank test can reach is %.3g, not below alpha %g: %w, whatever its size, so \"no regression\" here means nothing; use at least %d repetitions a side (10 recommended, -perf.count)",
			n1, n2, p, alpha, ErrNoSignificance, repsFor(alpha))}
	case p >= alpha/float64(m):
		return []error{fmt.Errorf("with %d baseline and %d current repetitions the smallest p-value is %.3g: after Holm's correction across %d metrics, %w (needs p < %.3g), only changes shared by several metrics can; use at least %d repetitions a side (-perf.count)",
			n1, n2, p, m, ErrLoneUndetectable, alpha/float64(m), repsFor(alpha/float64(m)))}
	}
	return nil
}

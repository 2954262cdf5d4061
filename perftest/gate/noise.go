package gate

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"golang.org/x/perf/benchmath"

	"github.com/perfgate/perfgate/perftest/internal/robust"
	"github.com/perfgate/perfgate/perftest/resultfile"
)

// Noise is how the machines of two runs compare (Options.Noise returns it).
type Noise struct {
	// Busier is +1 when the current run's machine was measurably busier than the
	// baseline's, -1 when the baseline's was, 0 when neither was.
	Busier int
	// Both is true when both runs' machines were saturated, so that neither side's timings
	// can be trusted against the other's: a change either way that Explain covers is
	// neither a regression (INCONCLUSIVE) nor an improvement. Busier is then 0.
	Both bool
	// Why names what made the busier side busier; Summary gives both sides' figures.
	Why, Summary string
	// Explain returns the relative change of a unit's median that the difference can
	// explain, in the direction the busier side moves it (nil: none).
	Explain func(unit string) float64
	// Missing names the side that recorded no machine figures when the other did.
	Missing string
}

// Machine warnings.
var (
	// ErrBusierMachine: the current run's machine was measurably busier; the regressions
	// it can explain are Inconclusive.
	ErrBusierMachine = errors.New("the current run's machine was measurably busier")
	// ErrBusierBaseline: the baseline's machine was busier, which makes the current run
	// look faster: an improvement it can explain is not called one, and a regression as
	// large as what it explains may be hidden.
	ErrBusierBaseline = errors.New("the baseline's machine was measurably busier")
	// ErrSaturated: both runs' machines were saturated (Noise.Both); the changes their load
	// can explain are judged neither way.
	ErrSaturated = errors.New("both runs' machines were saturated")
	// ErrNoMachineFigures: a side recorded no machine figures, so whether a busy machine
	// moved the metrics cannot be judged.
	ErrNoMachineFigures = errors.New("no machine figures")
)

// judgeNoise applies the machine comparison: a regression (with the current machine
// busier) whose change, less what the difference explains, is no longer beyond the
// threshold, is Inconclusive; such an improvement (with the baseline's machine busier) is
// Unchanged.
func (r *Report) judgeNoise(n Noise) {
	r.Noise = &n
	if n.Missing != "" {
		r.Warnings = append(r.Warnings, fmt.Errorf("machine: %w in the %s run (recorded before perfgate measured the machine, or where it cannot): compared without judging how busy the two machines were", ErrNoMachineFigures, n.Missing))
		return
	}
	if n.Busier == 0 && !n.Both || n.Explain == nil {
		return
	}
	var hidden, hiddenAny, excused []string
	for i := range r.Deltas {
		d := &r.Deltas[i]
		e := n.Explain(d.Unit)
		if e <= 0 {
			continue
		}
		d.Explained = e
		beyond := math.Abs(d.Change)-e > d.Threshold
		switch {
		case (n.Busier > 0 || n.Both) && d.Verdict == Regression && !beyond:
			d.Verdict = Inconclusive
		case (n.Busier < 0 || n.Both) && d.Verdict == Improvement && !beyond:
			// The current run only looks faster because the baseline's machine was slower.
			d.Verdict = Unchanged
			excused = append(excused, d.Unit)
		case n.Busier < 0 && math.IsInf(e, 1):
			hiddenAny = append(hiddenAny, d.Unit)
		case n.Busier < 0 && e > d.Threshold:
			hidden = append(hidden, fmt.Sprintf("%s %s", d.Unit, fmtPct(e)))
		}
	}
	figures := ""
	if n.Summary != "" {
		figures = ": " + n.Summary
	}
	switch {
	case n.Both:
		msg := fmt.Errorf("machine: %w (%s)%s; a regression they can explain is INCONCLUSIVE", ErrSaturated, n.Why, figures)
		if len(excused) > 0 {
			msg = fmt.Errorf("%w, and no improvement is called (%s)", msg, strings.Join(excused, ", "))
		}
		r.Warnings = append(r.Warnings, msg)
		return
	case n.Busier > 0:
		r.Warnings = append(r.Warnings, fmt.Errorf("machine: %w (%s)%s; a regression it can explain is INCONCLUSIVE", ErrBusierMachine, n.Why, figures))
		return
	}
	msg := fmt.Errorf("machine: %w (%s)%s", ErrBusierBaseline, n.Why, figures)
	if len(excused) > 0 {
		msg = fmt.Errorf("%w; the improvements it can explain are not called improvements (%s)", msg, strings.Join(excused, ", "))
	}
	if len(hidden) > 0 {
		msg = fmt.Errorf("%w; regressions up to %s may be hidden", msg, strings.Join(hidden, ", "))
	}
	if len(hiddenAny) > 0 {
		msg = fmt.Errorf("%w; a regression of any size may be hidden in %s", msg, strings.Join(hiddenAny, ", "))
	}
	r.Warnings = append(r.Warnings, msg)
}

// summarizeFigure summarizes a machine figure of both runs, untested.
func summarizeFigure(u string, base, cur *resultfile.File, opt Options) Delta {
	bv, cv := base.Values(u), cur.Values(u)
	thr := benchmath.DefaultThresholds
	d := Delta{Unit: u, Figure: true, LowerBetter: lowerBetter(u, base, opt), P: 1, PAdj: 1, MDE: math.NaN(),
		Base:  benchmath.AssumeNothing.Summary(benchmath.NewSample(slices.Clone(bv), &thr), 0.95),
		Cur:   benchmath.AssumeNothing.Summary(benchmath.NewSample(slices.Clone(cv), &thr), 0.95),
		NBase: len(bv), NCur: len(cv)}
	d.Change = robust.RelChange(d.Base.Center, d.Cur.Center)
	return d
}

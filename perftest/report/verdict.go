package report

import (
	"fmt"
	"strings"

	"github.com/perfgate/perfgate/perftest/gate"
)

// Verdict is the report's reading of a case, an A/B run or the folder as a whole.
type Verdict int

// Verdicts, from the least to the most urgent: a folder's verdict is its most urgent one.
const (
	NotGated     Verdict = iota // no baseline, or a baseline of another setup
	Pass                        // compared: no regression
	Improved                    // compared: no regression, some metrics better
	Undecided                   // compared: no regression could be significant at these repetition counts
	Inconclusive                // regressed metrics, measured on a GPU that slowed down
	Regression                  // regressed metrics on a machine that did not slow down
	Refused                     // no gated metric in common, or the baseline's gated metrics missing
	Unhealthy                   // a run whose numbers do not describe the requested load
)

func (v Verdict) String() string {
	switch v {
	case Pass:
		return "no regression"
	case Improved:
		return "improved"
	case Undecided:
		return "UNDECIDED"
	case Inconclusive:
		return "INCONCLUSIVE"
	case Refused:
		return "REFUSED"
	case Regression:
		return "REGRESSION"
	case Unhealthy:
		return "UNHEALTHY"
	}
	return "not gated"
}

// judge reads a comparison as the gate does: a regression is a REGRESSION, and one that a
// measurably busier machine can explain (a GPU that throttled in some repetition, a busier
// host; see machine.Compare) is INCONCLUSIVE. A GPU held back the same way in every
// repetition of both sides (a GPU that runs at its power cap all along) is part of the
// setup, not noise.
func judge(rep *gate.Report) (Verdict, string) {
	regs, inc, und := rep.Regressions(), rep.Inconclusives(), rep.Undecideds()
	switch {
	case rep.Refusal() != nil:
		return Refused, fmt.Sprintf("not compared: %v", rep.Refusal())
	case len(regs) > 0:
		return Regression, fmt.Sprintf("%d %s regressed: %s", len(regs), plural(len(regs), "metric", "metrics"), changeList(regs))
	case len(inc) > 0:
		why := "a side's machine was measurably busier"
		if rep.Noise != nil && rep.Noise.Why != "" {
			why = rep.Noise.Why
		}
		return Inconclusive, fmt.Sprintf("%d %s regressed (%s), but %s: machine noise explains the change as well as the code, so it is not called a regression (rerun on a quieter machine, a cool, uncapped GPU)",
			len(inc), plural(len(inc), "metric", "metrics"), unitList(inc), why)
	case len(und) > 0:
		return Undecided, fmt.Sprintf("no regression of %d %s can be significant at %d+%d repetitions, whatever its size: not a pass (compare more repetitions)",
			len(und), plural(len(und), "metric", "metrics"), und[0].NBase, und[0].NCur)
	case len(rep.Improvements()) > 0:
		imps := rep.Improvements()
		return Improved, fmt.Sprintf("%d %s improved: %s", len(imps), plural(len(imps), "metric", "metrics"), changeList(imps))
	}
	return Pass, fmt.Sprintf("%d metrics compared, none changed beyond its threshold", len(rep.Deltas)-figures(rep))
}

func figures(rep *gate.Report) int {
	n := 0
	for _, d := range rep.Deltas {
		if d.Figure {
			n++
		}
	}
	return n
}

// Verdict is the case's verdict and one sentence saying why.
func (c *Case) Verdict() (Verdict, string) {
	switch {
	case c.Unhealthy != nil:
		return Unhealthy, fmt.Sprintf("not compared: %v; its numbers do not describe the requested load", c.Unhealthy)
	case c.Base == nil:
		return NotGated, "no baseline (NAME.baseline.txt beside the results, or --baselines DIR)"
	case c.Compare == nil:
		return NotGated, "the baseline was recorded for another setup; not compared"
	}
	return judge(c.Compare)
}

// Verdict is the A/B run's verdict (B against A) and one sentence saying why.
func (ab *AB) Verdict() (Verdict, string) {
	if ab.Unhealthy != nil {
		return Unhealthy, fmt.Sprintf("not compared: %v; its numbers do not describe the requested load", ab.Unhealthy)
	}
	return judge(ab.Compare)
}

// Verdict is the folder's verdict: its most urgent case or A/B verdict (NotGated when
// nothing was compared). Histories inform and do not judge.
func (r *Report) Verdict() Verdict {
	v := NotGated
	for _, c := range r.allCases() {
		v = max(v, first(c.Verdict()))
	}
	for _, ab := range r.ABs {
		v = max(v, first(ab.Verdict()))
	}
	return v
}

func first(v Verdict, _ string) Verdict { return v }

// allCases is every case, sweep points included.
func (r *Report) allCases() []*Case {
	cs := append([]*Case(nil), r.Cases...)
	for _, s := range r.Sweeps {
		cs = append(cs, s.Points...)
	}
	return cs
}

func unitList(ds []gate.Delta) string {
	var us []string
	for _, d := range ds {
		us = append(us, d.Unit)
	}
	return strings.Join(us, ", ")
}

func changeList(ds []gate.Delta) string {
	var us []string
	for _, d := range ds {
		us = append(us, fmt.Sprintf("%s %+.1f%%", d.Unit, 100*d.Change))
	}
	return strings.Join(us, ", ")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

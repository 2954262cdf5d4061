package report

import (
	"fmt"
	"strings"

	"github.com/perfgate/perfgate/perftest/gate"
	"github.com/perfgate/perfgate/perftest/machine"
)

// Verdict is the report's reading of a case, an A/B run or the folder as a whole.
type Verdict int

// Verdicts, from the least to the most urgent: a folder's verdict is its most urgent one.
const (
	NotGated     Verdict = iota // no baseline, or a baseline of another setup
	Pass                        // compared: no regression
	Improved                    // compared: no regression, some metrics better
	Inconclusive                // regressed metrics, measured on a GPU that slowed down
	Regression                  // regressed metrics on a machine that did not slow down
	Unhealthy                   // a run whose numbers do not describe the requested load
)

func (v Verdict) String() string {
	switch v {
	case Pass:
		return "no regression"
	case Improved:
		return "improved"
	case Inconclusive:
		return "INCONCLUSIVE"
	case Regression:
		return "REGRESSION"
	case Unhealthy:
		return "UNHEALTHY"
	}
	return "not gated"
}

// judge reads a comparison: a regression measured across a throttled repetition (on either
// side) is inconclusive, because a GPU that slowed down explains it as well as the code.
// The exception is a GPU held back the same way in every repetition of both sides (a GPU
// that runs at its power cap all along): that is part of the setup, not noise.
func judge(rep *gate.Report, base, cur []machine.ThrottledRep, baseSide, curSide string) (Verdict, string) {
	regs := rep.Regressions()
	switch {
	case len(regs) > 0 && throttleNoise(base, cur, len(rep.Base.Reps), len(rep.Cur.Reps)):
		return Inconclusive, fmt.Sprintf("%d %s regressed (%s), but a GPU throttled: %s; machine noise explains the change as well as the code, so it is not called a regression (rerun on a cool, uncapped GPU)",
			len(regs), plural(len(regs), "metric", "metrics"), unitList(regs), throttleText(base, cur, baseSide, curSide))
	case len(regs) > 0:
		return Regression, fmt.Sprintf("%d %s regressed: %s", len(regs), plural(len(regs), "metric", "metrics"), changeList(regs))
	case len(rep.Improvements()) > 0:
		imps := rep.Improvements()
		return Improved, fmt.Sprintf("%d %s improved: %s", len(imps), plural(len(imps), "metric", "metrics"), changeList(imps))
	}
	return Pass, fmt.Sprintf("%d metrics compared, none changed beyond its threshold", len(rep.Deltas))
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
	return judge(c.Compare, c.BaseThrottled, c.Throttled, "baseline", "current")
}

// Verdict is the A/B run's verdict (B against A) and one sentence saying why.
func (ab *AB) Verdict() (Verdict, string) {
	if ab.Unhealthy != nil {
		return Unhealthy, fmt.Sprintf("not compared: %v; its numbers do not describe the requested load", ab.Unhealthy)
	}
	return judge(ab.Compare, ab.ThrottledA, ab.ThrottledB, "A", "B")
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

// throttleNoise reports whether throttling makes the sides unlike: some repetition
// throttled, unless every repetition of both throttled for the same reasons.
func throttleNoise(base, cur []machine.ThrottledRep, nBase, nCur int) bool {
	if len(base)+len(cur) == 0 {
		return false
	}
	if len(base) != nBase || len(cur) != nCur {
		return true
	}
	want := base[0].Reasons & machine.Slowdowns
	for _, t := range append(base[1:], cur...) {
		if t.Reasons&machine.Slowdowns != want {
			return true
		}
	}
	return false
}

func throttleText(base, cur []machine.ThrottledRep, baseSide, curSide string) string {
	var parts []string
	for _, t := range []struct {
		side string
		reps []machine.ThrottledRep
	}{{baseSide, base}, {curSide, cur}} {
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

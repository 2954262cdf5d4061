package perftest

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
)

// Title is a one-line summary: the case and how many metrics regressed or improved.
func (r *Report) Title() string {
	name := r.Cur.Name
	if name == "" {
		name = r.Base.Name
	}
	regs, imps := len(r.Regressions()), len(r.Improvements())
	switch {
	case regs > 0:
		return fmt.Sprintf("%s: %d %s regressed", name, regs, plural(regs, "metric", "metrics"))
	case imps > 0:
		return fmt.Sprintf("%s: no regression, %d %s improved", name, imps, plural(imps, "metric", "metrics"))
	}
	return fmt.Sprintf("%s: no regression", name)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// WriteMarkdown writes the report as a GitHub-flavoured markdown section: a heading, the
// table (regressions in bold), the warnings and how to read it. CI appends it to
// $GITHUB_STEP_SUMMARY.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "### perfgate: %s\n\n", r.Title())
	fmt.Fprintf(&b, "`%s` → `%s`\n\n", r.Base.Path, r.Cur.Path)
	b.WriteString("| metric | baseline | current | change | p (holm) | threshold | MDE | verdict |\n")
	b.WriteString("|---|--:|--:|--:|--:|--:|--:|---|\n")
	for _, d := range r.Deltas {
		change, verdict := fmtChange(d.Change), d.Verdict.String()
		if d.Verdict == Regression {
			change, verdict = "**"+change+"**", "**"+verdict+"**"
		}
		thr := fmtPct(d.Threshold)
		if d.NoiseFloor > d.ConfiguredThreshold {
			thr += "\\*"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %.3f (n=%d+%d) | %s | %s | %s |\n", d.Unit, fmtSummary(d.Base), fmtSummary(d.Cur), change, d.PAdj, d.NBase, d.NCur, thr, fmtMDE(d.MDE), verdict)
	}
	if warns := r.allWarnings(); len(warns) > 0 {
		b.WriteString("\n**Warnings**\n\n")
		for _, wn := range warns {
			fmt.Fprintf(&b, "- %s\n", wn)
		}
	}
	fmt.Fprintf(&b, "\n%s.", r.legend())
	if r.floorRaised() {
		b.WriteString(" \\* threshold raised to the baseline's noise floor.")
	}
	b.WriteString("\n\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func (r *Report) floorRaised() bool {
	for _, d := range r.Deltas {
		if d.NoiseFloor > d.ConfiguredThreshold {
			return true
		}
	}
	return false
}

// WriteJSON writes the report as one indented JSON object (see MarshalJSON).
func (r *Report) WriteJSON(w io.Writer) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

type reportJSON struct {
	Case         string       `json:"case"`
	Base         string       `json:"base"`
	Current      string       `json:"current"`
	Alpha        float64      `json:"alpha"`
	Regressions  int          `json:"regressions"`
	Improvements int          `json:"improvements"`
	Warnings     []string     `json:"warnings"`
	Metrics      []metricJSON `json:"metrics"`
}

type summaryJSON struct {
	Median float64  `json:"median"`
	Lo     *float64 `json:"lo"` // null: unbounded (too few values)
	Hi     *float64 `json:"hi"`
	N      int      `json:"n"`
}

type metricJSON struct {
	Unit    string      `json:"unit"`
	Better  string      `json:"better"`
	Base    summaryJSON `json:"base"`
	Current summaryJSON `json:"current"`
	// Change is null when the baseline median is 0 and the current one is not.
	Change              *float64 `json:"change"`
	P                   float64  `json:"p"`
	PHolm               float64  `json:"p_holm"`
	Threshold           float64  `json:"threshold"`
	ConfiguredThreshold float64  `json:"configured_threshold"`
	NoiseFloor          float64  `json:"noise_floor"`
	// MDE is null when no regression of the metric alone is detectable or the baseline
	// median is 0; MDENote then says which ("none", "n/a").
	MDE      *float64 `json:"mde"`
	MDENote  string   `json:"mde_note,omitempty"`
	Verdict  Verdict  `json:"verdict"`
	Warnings []string `json:"warnings,omitempty"`
}

func finite(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// MarshalJSON writes the report for machines: the case, the files, alpha, counts of
// regressions and improvements, warnings, and per metric the medians with their 95%
// intervals, the relative change, p-values (benchstat's two-sided p and the gate's Holm
// adjusted one-sided p), thresholds, MDE and verdict. Relative figures are fractions
// (0.05 is 5%); values that are infinite or undefined are null.
func (r *Report) MarshalJSON() ([]byte, error) {
	out := reportJSON{Case: r.Cur.Name, Base: r.Base.Path, Current: r.Cur.Path, Alpha: r.Alpha,
		Regressions: len(r.Regressions()), Improvements: len(r.Improvements()), Warnings: r.Warnings, Metrics: []metricJSON{}}
	if out.Warnings == nil {
		out.Warnings = []string{}
	}
	for _, d := range r.Deltas {
		m := metricJSON{Unit: d.Unit, Better: "higher",
			Base:    summaryJSON{d.Base.Center, finite(d.Base.Lo), finite(d.Base.Hi), d.NBase},
			Current: summaryJSON{d.Cur.Center, finite(d.Cur.Lo), finite(d.Cur.Hi), d.NCur},
			Change:  finite(d.Change), P: d.P, PHolm: d.PAdj, Threshold: d.Threshold,
			ConfiguredThreshold: d.ConfiguredThreshold, NoiseFloor: d.NoiseFloor,
			MDE: finite(d.MDE), Verdict: d.Verdict, Warnings: d.Warnings}
		if d.LowerBetter {
			m.Better = "lower"
		}
		if m.MDE == nil {
			m.MDENote = fmtMDE(d.MDE)
		}
		out.Metrics = append(out.Metrics, m)
	}
	return json.Marshal(out)
}

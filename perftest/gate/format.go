package gate

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"golang.org/x/perf/benchmath"
	"golang.org/x/perf/benchunit"

	"github.com/perfgate/perfgate/internal/atomicfile"
)

// Title is a one-line summary: the case and how many metrics regressed or improved.
func (r *Report) Title() string {
	name := cmpOrString(r.Cur.Name, r.Base.Name)
	regs, imps, inc := len(r.Regressions()), len(r.Improvements()), len(r.Inconclusives())
	switch {
	case regs > 0:
		return fmt.Sprintf("%s: %d %s regressed", name, regs, plural(regs, "metric", "metrics"))
	case len(r.Undecideds()) > 0:
		und := r.Undecideds()
		return fmt.Sprintf("%s: UNDECIDED: no regression of %d %s can be significant at n=%d+%d", name, len(und), plural(len(und), "metric", "metrics"), und[0].NBase, und[0].NCur)
	case inc > 0:
		return fmt.Sprintf("%s: no regression, %d %s INCONCLUSIVE (busier machine)", name, inc, plural(inc, "metric", "metrics"))
	case imps > 0:
		return fmt.Sprintf("%s: no regression, %d %s improved", name, imps, plural(imps, "metric", "metrics"))
	}
	return fmt.Sprintf("%s: no regression", name)
}

// RegressionList names the regressed metrics with their change, adjusted p-value and
// threshold, "; "-separated, for a failure message ("" when none regressed).
func (r *Report) RegressionList() string {
	var names []string
	for _, d := range r.Regressions() {
		names = append(names, fmt.Sprintf("%s %s (p=%.3g, threshold %s)", d.Unit, fmtChange(d.Change), d.PAdj, fmtPct(d.Threshold)))
	}
	return strings.Join(names, "; ")
}

// InconclusiveList names the inconclusive metrics with their change, adjusted p-value and
// the change the busier machine explains, "; "-separated ("" when none).
func (r *Report) InconclusiveList() string {
	var names []string
	for _, d := range r.Inconclusives() {
		explained := "up to " + fmtPct(d.Explained)
		if math.IsInf(d.Explained, 1) {
			explained = "any change"
		}
		names = append(names, fmt.Sprintf("%s %s (p=%.3g; the busier machine explains %s)", d.Unit, fmtChange(d.Change), d.PAdj, explained))
	}
	return strings.Join(names, "; ")
}

// WriteText writes a benchstat-style table (the metrics, then the machine figures, which
// are not tested), then the warnings and how to read it.
func (r *Report) WriteText(w io.Writer) error {
	if err := r.writeCache(w, false); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "metric\tbaseline\tcurrent\tchange\tp (holm)\tthreshold\tMDE\tverdict\n")
	for _, d := range r.Deltas {
		if d.Figure {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t- (n=%d+%d)\t-\t-\tmachine\n", d.Unit, d.fmtValue(d.Base), d.fmtValue(d.Cur), fmtChange(d.Change), d.NBase, d.NCur)
			continue
		}
		thr := fmtPct(d.Threshold)
		if d.raised() {
			thr += "*"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.3f (n=%d+%d)\t%s\t%s\t%s\n", d.Unit, d.fmtValue(d.Base), d.fmtValue(d.Cur), fmtChange(d.Change), d.PAdj, d.NBase, d.NCur, thr, fmtMDE(d.MDE), d.Verdict)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var b strings.Builder
	r.writeAttributionText(&b)
	if r.Sequential != nil {
		fmt.Fprintf(&b, "%s\n", r.Sequential)
	}
	if warns := r.allWarnings(); len(warns) > 0 {
		fmt.Fprintf(&b, "warnings:\n  %s\n", strings.Join(warns, "\n  "))
	}
	if l := r.InconclusiveList(); l != "" {
		fmt.Fprintf(&b, "INCONCLUSIVE: beyond the threshold, but not beyond it once the change the busier machine can explain is taken off: %s\n", l)
	}
	fmt.Fprintf(&b, "%s\n", r.legend())
	if r.floorRaised() {
		b.WriteString("* threshold raised to the baseline's noise floor (the 95% uncertainty of its median)\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteMarkdown writes the report as a GitHub-flavoured markdown section: a heading, the
// table (regressions in bold), the warnings and how to read it, for a pull-request comment
// or $GITHUB_STEP_SUMMARY.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "### perfgate: %s\n\n", r.Title())
	fmt.Fprintf(&b, "`%s` → `%s`\n\n", r.Base.Path, r.Cur.Path)
	_ = r.writeCache(&b, true)
	b.WriteString("| metric | baseline | current | change | p (holm) | threshold | MDE | verdict |\n")
	b.WriteString("|---|--:|--:|--:|--:|--:|--:|---|\n")
	for _, d := range r.Deltas {
		if d.Figure {
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s | - (n=%d+%d) | - | - | machine |\n", d.Unit, d.fmtValue(d.Base), d.fmtValue(d.Cur), fmtChange(d.Change), d.NBase, d.NCur)
			continue
		}
		change, verdict := fmtChange(d.Change), d.Verdict.String()
		switch d.Verdict {
		case Regression:
			change, verdict = "**"+change+"**", "**"+verdict+"**"
		case Inconclusive, Undecided:
			verdict = "_" + verdict + "_"
		}
		thr := fmtPct(d.Threshold)
		if d.raised() {
			thr += "\\*"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %.3f (n=%d+%d) | %s | %s | %s |\n", d.Unit, d.fmtValue(d.Base), d.fmtValue(d.Cur), change, d.PAdj, d.NBase, d.NCur, thr, fmtMDE(d.MDE), verdict)
	}
	r.writeAttributionMarkdown(&b)
	if r.Sequential != nil {
		fmt.Fprintf(&b, "\n%s.\n", r.Sequential)
	}
	if warns := r.allWarnings(); len(warns) > 0 {
		b.WriteString("\n**Warnings**\n\n")
		for _, wn := range warns {
			fmt.Fprintf(&b, "- %s\n", wn)
		}
	}
	if l := r.InconclusiveList(); l != "" {
		fmt.Fprintf(&b, "\n_INCONCLUSIVE_: beyond the threshold, but not beyond it once the change the busier machine can explain is taken off: %s.\n", l)
	}
	fmt.Fprintf(&b, "\n%s.", r.legend())
	if r.floorRaised() {
		b.WriteString(" \\* threshold raised to the baseline's noise floor.")
	}
	b.WriteString("\n\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// AppendMarkdown appends the markdown report to the file at path in one write, so that
// cases gated in parallel and appending to the same file ($GITHUB_STEP_SUMMARY) do not
// interleave.
func (r *Report) AppendMarkdown(path string) error {
	var b strings.Builder
	if err := r.WriteMarkdown(&b); err != nil {
		return err
	}
	return atomicfile.Append(path, []byte(b.String()))
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

// Write writes the report in a format: "text" (the title, a blank line and WriteText),
// "markdown" (or "md") or "json".
func (r *Report) Write(w io.Writer, format string) error {
	switch format {
	case "json":
		return r.WriteJSON(w)
	case "markdown", "md":
		return r.WriteMarkdown(w)
	case "text":
		if _, err := fmt.Fprintf(w, "%s\n\n", r.Title()); err != nil {
			return err
		}
		return r.WriteText(w)
	}
	return fmt.Errorf("unknown format %q (text, markdown or json)", format)
}

// Formats lists the formats Write accepts.
var Formats = []string{"text", "markdown", "md", "json"}

func (d *Delta) raised() bool { return d.NoiseFloor > d.ConfiguredThreshold }

func (r *Report) floorRaised() bool {
	return slices.ContainsFunc(r.Deltas, func(d Delta) bool { return d.raised() })
}

func (r *Report) legend() string {
	paired := ""
	if r.Pairs > 0 {
		paired = fmt.Sprintf("paired, %d pairs, signed-rank test and Hodges-Lehmann change of log(B/A); ", r.Pairs)
	}
	return paired + fmt.Sprintf("alpha %.3g after Holm correction across %d metrics; MDE: smallest regression caught with %.0f%% probability at these sample sizes and spread (see docs/gate.md)",
		r.Alpha, r.tested(), 100*MDEPower)
}

// tested counts the metrics tested (not the machine figures).
func (r *Report) tested() int {
	n := 0
	for _, d := range r.Deltas {
		if !d.Figure {
			n++
		}
	}
	return n
}

// allWarnings is the report's warnings followed by each metric's, prefixed by its unit.
func (r *Report) allWarnings() []string {
	var warns []string
	for _, w := range r.Warnings {
		warns = append(warns, w.Error())
	}
	for _, d := range r.Deltas {
		for _, wn := range d.Warnings {
			if s := d.Unit + ": " + wn.Error(); !slices.Contains(warns, s) {
				warns = append(warns, s)
			}
		}
	}
	return warns
}

type reportJSON struct {
	Case         string       `json:"case"`
	Base         string       `json:"base"`
	Current      string       `json:"current"`
	Alpha        float64      `json:"alpha"`
	Regressions  int          `json:"regressions"`
	Improvements int          `json:"improvements"`
	Inconclusive int          `json:"inconclusive,omitempty"`
	Undecided    int          `json:"undecided,omitempty"`
	Warnings     []string     `json:"warnings"`
	Metrics      []metricJSON `json:"metrics"`
	// Machine holds the machine figures (not tested) and how the machines compare.
	Machine    *machineJSON    `json:"machine,omitempty"`
	Sequential *sequentialJSON `json:"sequential,omitempty"`
	// Pairs is the number of pairs of a paired A/B comparison (absent: unpaired).
	Pairs int `json:"pairs,omitempty"`
	// Attribution says why the flagged latencies changed (absent: none attributed).
	Attribution []attributionJSON `json:"attribution,omitempty"`
	// Cache says how the runs' cache states differ (absent: alike).
	Cache string `json:"cache,omitempty"`
}

type machineJSON struct {
	// Busier is "current", "baseline" or "" (neither).
	Busier  string       `json:"busier"`
	Why     string       `json:"why,omitempty"`
	Summary string       `json:"summary,omitempty"`
	Missing string       `json:"missing,omitempty"`
	Figures []figureJSON `json:"figures"`
}

type figureJSON struct {
	Unit    string      `json:"unit"`
	Base    summaryJSON `json:"base"`
	Current summaryJSON `json:"current"`
	Change  *float64    `json:"change"`
}

type sequentialJSON struct {
	Looks   []int  `json:"looks"`
	Paired  bool   `json:"paired"`
	Stopped string `json:"stopped"`
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
	MDE     *float64 `json:"mde"`
	MDENote string   `json:"mde_note,omitempty"`
	Verdict Verdict  `json:"verdict"`
	// Explained is the relative change a busier machine explains (absent: none);
	// ExplainedAny is true instead when it explains a change of any size (a saturated or
	// crowded machine).
	Explained    float64  `json:"explained,omitempty"`
	ExplainedAny bool     `json:"explained_any,omitempty"`
	Warnings     []string `json:"warnings,omitempty"`
	// Paired is the paired analysis (absent: unpaired): the Hodges-Lehmann change with
	// its 95% interval, and the pair count.
	Paired *pairedJSON `json:"paired,omitempty"`
}

type pairedJSON struct {
	N      int     `json:"n"`
	Log    bool    `json:"log_ratio"`
	Change float64 `json:"hl_change"`
	Lo     float64 `json:"lo"`
	Hi     float64 `json:"hi"`
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
		Regressions: len(r.Regressions()), Improvements: len(r.Improvements()), Inconclusive: len(r.Inconclusives()),
		Undecided: len(r.Undecideds()), Warnings: []string{}, Metrics: []metricJSON{}}
	for _, w := range r.Warnings {
		out.Warnings = append(out.Warnings, w.Error())
	}
	out.Attribution = r.attributionJSON()
	out.Cache = r.Cache
	out.Pairs = r.Pairs
	if r.Sequential != nil {
		out.Sequential = &sequentialJSON{Looks: r.Sequential.Looks, Paired: r.Sequential.Paired, Stopped: r.Sequential.Stopped}
	}
	if n := r.Noise; n != nil && (n.Busier != 0 || n.Both || n.Missing != "" || slices.ContainsFunc(r.Deltas, func(d Delta) bool { return d.Figure })) {
		out.Machine = &machineJSON{Why: n.Why, Summary: n.Summary, Missing: n.Missing, Figures: []figureJSON{}}
		switch {
		case n.Both:
			out.Machine.Busier = "both saturated"
		case n.Busier == 1:
			out.Machine.Busier = "current"
		case n.Busier == -1:
			out.Machine.Busier = "baseline"
		}
	}
	for _, d := range r.Deltas {
		if d.Figure {
			if out.Machine == nil {
				out.Machine = &machineJSON{Figures: []figureJSON{}}
			}
			out.Machine.Figures = append(out.Machine.Figures, figureJSON{Unit: d.Unit,
				Base:    summaryJSON{d.Base.Center, finite(d.Base.Lo), finite(d.Base.Hi), d.NBase},
				Current: summaryJSON{d.Cur.Center, finite(d.Cur.Lo), finite(d.Cur.Hi), d.NCur}, Change: finite(d.Change)})
			continue
		}
		m := metricJSON{Unit: d.Unit, Better: "higher",
			Base:    summaryJSON{d.Base.Center, finite(d.Base.Lo), finite(d.Base.Hi), d.NBase},
			Current: summaryJSON{d.Cur.Center, finite(d.Cur.Lo), finite(d.Cur.Hi), d.NCur},
			Change:  finite(d.Change), P: d.P, PHolm: d.PAdj, Threshold: d.Threshold,
			ConfiguredThreshold: d.ConfiguredThreshold, NoiseFloor: d.NoiseFloor,
			MDE: finite(d.MDE), Verdict: d.Verdict}
		if math.IsInf(d.Explained, 1) {
			m.ExplainedAny = true
		} else {
			m.Explained = d.Explained
		}
		for _, w := range d.Warnings {
			m.Warnings = append(m.Warnings, w.Error())
		}
		if p := d.Pairs; p != nil {
			m.Paired = &pairedJSON{N: p.N, Log: p.Log, Change: p.Change, Lo: p.Lo, Hi: p.Hi}
		}
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

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func cmpOrString(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func fmtChange(c float64) string {
	switch {
	case c == 0:
		return "~"
	case math.IsInf(c, 0):
		if c > 0 {
			return "+∞ (from 0)"
		}
		return "-∞ (from 0)"
	}
	return fmt.Sprintf("%+.2f%%", 100*c)
}

func fmtPct(v float64) string {
	if v < 0.1 {
		return fmt.Sprintf("%.1f%%", 100*v)
	}
	return fmt.Sprintf("%.0f%%", 100*v)
}

func fmtMDE(v float64) string {
	switch {
	case math.IsNaN(v):
		return "n/a"
	case math.IsInf(v, 1):
		return "none"
	}
	return fmtPct(v)
}

// fmtValue is a median with its uncertainty as people read it: a fraction as a percentage
// with its uncertainty in percentage points ("46.9% ± 2.1pp"), anything else as benchstat
// prints it (fmtSummary).
func (d Delta) fmtValue(s benchmath.Summary) string {
	if !d.Percent {
		return fmtSummary(s)
	}
	c := strconv.FormatFloat(100*s.Center, 'f', pctDigits(100*s.Center), 64) + "%"
	spread := 100 * math.Max(s.Hi-s.Center, s.Center-s.Lo)
	switch {
	case spread == 0 || math.IsNaN(spread):
		return c
	case math.IsInf(spread, 0):
		return c + " ± ∞"
	}
	return c + " ± " + strconv.FormatFloat(spread, 'f', pctDigits(spread), 64) + "pp"
}

// pctDigits are the decimals that show a percentage to about three significant digits.
func pctDigits(v float64) int {
	switch v = math.Abs(v); {
	case v == 0:
		return 0
	case v >= 10:
		return 1
	case v >= 1:
		return 2
	}
	return 3
}

func fmtSummary(s benchmath.Summary) string {
	c := benchunit.Scale(s.Center, benchunit.Decimal)
	if s.Center == 0 {
		return c
	}
	spread := math.Max(s.Hi-s.Center, s.Center-s.Lo) / math.Abs(s.Center)
	if math.IsInf(spread, 0) {
		return c + " ± ∞"
	}
	return fmt.Sprintf("%s ± %.0f%%", c, 100*spread)
}

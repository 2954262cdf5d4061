package report

import (
	"fmt"
	"io"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/perf/benchunit"

	"github.com/perfgate/perfgate/perftest/internal/robust"
	"github.com/perfgate/perfgate/perftest/machine"
	"github.com/perfgate/perfgate/perftest/metric"
	"github.com/perfgate/perfgate/perftest/resultfile"
)

// Headline is the report's first line: the folder's verdict and how many runs it covers,
// then every other urgent verdict among the runs, so that an UNHEALTHY run does not hide a
// REGRESSION beside it.
func (r *Report) Headline() string {
	n, count := 0, map[Verdict]int{}
	for _, c := range r.allCases() {
		if cv, _ := c.Verdict(); cv != NotGated {
			n++
			count[cv]++
		}
	}
	for _, ab := range r.ABs {
		n++
		av, _ := ab.Verdict()
		count[av]++
	}
	runs := plural(n, "run", "runs")
	clause := map[Verdict]string{
		Unhealthy:    fmt.Sprintf("UNHEALTHY: %d of %d %s recorded problems (error rate, undelivered load): not compared", count[Unhealthy], n, runs),
		Regression:   fmt.Sprintf("REGRESSION: %d of %d compared %s regressed", count[Regression], n, runs),
		Inconclusive: fmt.Sprintf("INCONCLUSIVE: %d of %d compared %s regressed on a GPU that throttled", count[Inconclusive], n, runs),
		Refused:      fmt.Sprintf("REFUSED: %d of %d %s share no gated metric with the baseline or lack some of its gated metrics: not compared", count[Refused], n, runs),
		Undecided:    fmt.Sprintf("UNDECIDED: %d of %d compared %s had too few repetitions for any change to be significant", count[Undecided], n, runs),
	}
	switch v := r.Verdict(); v {
	case Unhealthy, Refused, Regression, Inconclusive, Undecided:
		parts := []string{clause[v]}
		for _, other := range []Verdict{Unhealthy, Refused, Regression, Inconclusive, Undecided} {
			if other != v && count[other] > 0 {
				parts = append(parts, clause[other])
			}
		}
		return strings.Join(parts, "; ")
	case NotGated:
		return "not gated: nothing was compared with a baseline"
	}
	return fmt.Sprintf("no regression in %d compared %s", n, runs)
}

// display is how the report names a file: by its base name inside the results folder, as
// given elsewhere.
func (r *Report) display(path string) string {
	if rel, err := filepath.Rel(r.Dir, path); err == nil && !strings.HasPrefix(rel, "..") {
		return filepath.ToSlash(rel)
	}
	return filepath.ToSlash(path)
}

// WriteMarkdown writes report.md: the verdict first, a table of every case, A/B run,
// sweep and history with its verdict, then each comparison as the gate writes it
// (gate.Report.WriteMarkdown, the text -perf.summary appends), each sweep's medians by
// load, each history's change points, and what each metric these tables name is (its
// description in the vocabulary, Options.Metrics).
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# perfgate: %s\n\n", r.Headline())
	r.summaryMarkdown(&b)
	b.WriteString("\nPlots of every run: report.html beside this file.\n\n")
	for _, c := range r.allCases() {
		if err := r.caseMarkdown(&b, c); err != nil {
			return err
		}
	}
	for _, ab := range r.ABs {
		if err := abMarkdown(&b, ab); err != nil {
			return err
		}
	}
	for _, s := range r.Sweeps {
		sweepMarkdown(&b, s)
	}
	for _, h := range r.Histories {
		r.historyMarkdown(&b, h)
	}
	r.metricsMarkdown(&b)
	notesMarkdown(&b, r.Notes)
	_, err := io.WriteString(w, b.String())
	return err
}

// summaryMarkdown writes the table of every run with its verdict.
func (r *Report) summaryMarkdown(b *strings.Builder) {
	b.WriteString("| run | compared with | verdict |\n|---|---|---|\n")
	for _, c := range r.Cases {
		r.caseRow(b, mdCell(c.Name), c)
	}
	for _, ab := range r.ABs {
		v, why := ab.Verdict()
		fmt.Fprintf(b, "| %s (A/B) | B against A, %d + %d interleaved repetitions | %s: %s |\n", mdCell(ab.Name), len(ab.A.Reps), len(ab.B.Reps), mdVerdict(v), mdText(why))
	}
	for _, s := range r.Sweeps {
		if !slices.ContainsFunc(s.Points, func(c *Case) bool { return c.Base != nil }) {
			fmt.Fprintf(b, "| %s (sweep, %d loads) | - | not gated: a sweep has no baseline |\n", mdCell(s.Name), len(s.Points))
			continue
		}
		for i, p := range s.Points {
			r.caseRow(b, fmt.Sprintf("%s (sweep point %d of %d)", mdCell(p.Name), i+1, len(s.Points)), p)
		}
	}
	for _, h := range r.Histories {
		fmt.Fprintf(b, "| %s (history) | %d runs, %s | %s |\n", mdCell(h.Case), len(h.Entries), mdCell(r.display(h.Path)), historyVerdict(h))
	}
}

// abMarkdown writes an A/B run's comparison as the gate writes it, and how the sides differ.
func abMarkdown(b *strings.Builder, ab *AB) error {
	if ab.Unhealthy != nil {
		fmt.Fprintf(b, "### perfgate: %s: not compared\n\n%s: its numbers do not describe the requested load.\n\n", mdCode(ab.Name), mdText(ab.Unhealthy.Error()))
		return nil
	}
	if err := writeJudged(b, ab.Compare.WriteMarkdown, ab.Verdict); err != nil {
		return err
	}
	if ab.Diff != "" {
		fmt.Fprintf(b, "The two sides describe themselves differently:\n\n```\n%s\n```\n\n", ab.Diff)
	}
	if machine.HasTelemetry(ab.A) || machine.HasTelemetry(ab.B) {
		b.WriteString(telemetryLine([]teleSide{{"A", ab.A, len(ab.ThrottledA)}, {"B", ab.B, len(ab.ThrottledB)}}))
	}
	return nil
}

// metricsMarkdown describes every metric the comparisons and change points name, in the
// vocabulary's order.
func (r *Report) metricsMarkdown(b *strings.Builder) {
	named := map[string]bool{}
	for _, c := range r.allCases() {
		if c.Compare != nil {
			for _, d := range c.Compare.Deltas {
				named[d.Unit] = true
			}
		}
	}
	for _, ab := range r.ABs {
		if ab.Compare != nil {
			for _, d := range ab.Compare.Deltas {
				named[d.Unit] = true
			}
		}
	}
	for _, h := range r.Histories {
		for _, cp := range h.Changes {
			named[cp.Unit] = true
		}
	}
	var rows strings.Builder
	for _, d := range r.metrics.Defs() {
		if named[d.Name] && d.Desc != "" {
			fmt.Fprintf(&rows, "| `%s` | %s |\n", d.Name, d.Desc)
		}
	}
	if rows.Len() > 0 {
		fmt.Fprintf(b, "### Metrics\n\n| metric | what it is |\n|---|---|\n%s\n", rows.String())
	}
}

func notesMarkdown(b *strings.Builder, notes []error) {
	if len(notes) == 0 {
		return
	}
	b.WriteString("### Left out\n\n")
	for _, n := range notes {
		fmt.Fprintf(b, "- %s\n", mdText(n.Error()))
	}
	b.WriteString("\n")
}

func (r *Report) caseRow(b *strings.Builder, name string, c *Case) {
	v, why := c.Verdict()
	with := "-"
	if c.Base != nil {
		with = fmt.Sprintf("%s, %d + %d repetitions", mdCell(r.display(c.BaselinePath)), len(c.Base.Reps), len(c.Cur.Reps))
	}
	fmt.Fprintf(b, "| %s | %s | %s: %s |\n", name, with, mdVerdict(v), mdText(why))
}

func mdVerdict(v Verdict) string {
	if v >= Undecided {
		return "**" + v.String() + "**"
	}
	return v.String()
}

// caseMarkdown writes a compared case's section; a case without a comparison gets one only
// when its baseline was of another setup (the diff) or its GPU throttled.
func (r *Report) caseMarkdown(b *strings.Builder, c *Case) error {
	if c.Compare != nil {
		if err := writeJudged(b, c.Compare.WriteMarkdown, c.Verdict); err != nil {
			return err
		}
	} else if c.Unhealthy != nil {
		fmt.Fprintf(b, "### perfgate: %s: not compared\n\n%s: its numbers do not describe the requested load.\n\n", mdCode(c.Name), mdText(c.Unhealthy.Error()))
	} else if c.Diff != "" {
		fmt.Fprintf(b, "### perfgate: %s: not compared\n\nBaseline %s was recorded for another setup:\n\n```\n%s\n```\n\n", mdCode(c.Name), mdCode(r.display(c.BaselinePath)), c.Diff)
	}
	if len(c.Throttled) > 0 && c.Compare == nil {
		var reps []string
		for _, t := range c.Throttled {
			reps = append(reps, t.String())
		}
		fmt.Fprintf(b, "GPU of %s throttled: current %s.\n\n", mdCode(c.Name), strings.Join(reps, ", "))
	}
	if machine.HasTelemetry(c.Cur) || (c.Base != nil && machine.HasTelemetry(c.Base)) {
		b.WriteString(telemetryLine([]teleSide{{"baseline", c.Base, len(c.BaseThrottled)}, {"current", c.Cur, len(c.Throttled)}}))
	}
	return nil
}

// writeJudged writes a comparison as the gate writes it, preceded by the report's verdict
// where that differs from the gate's (a regression on a throttled GPU).
func writeJudged(b *strings.Builder, write func(io.Writer) error, verdict func() (Verdict, string)) error {
	if v, why := verdict(); v == Inconclusive {
		fmt.Fprintf(b, "> **INCONCLUSIVE**: %s.\n\n", why)
	}
	return write(b)
}

type teleSide struct {
	name string
	f    *resultfile.File
	th   int // throttled repetitions
}

// telemetryLine sums GPU telemetry up in one line per side that has it.
func telemetryLine(sides []teleSide) string {
	var b strings.Builder
	for _, side := range sides {
		if side.f == nil || !machine.HasTelemetry(side.f) {
			continue
		}
		med := func(u string) float64 { return robust.Median(side.f.Values(u)) }
		fmt.Fprintf(&b, "GPU, %s (medians over %d repetitions): SM clock %.0f MHz, %.0f W, max %.0f °C, %.0f%% busy; throttled in %d.  \n",
			side.name, len(side.f.Reps), med(metric.GPUSMClock), med(metric.GPUPower), med(metric.GPUTempMax), med(metric.GPUUtil), side.th)
	}
	return b.String() + "\n"
}

// sweepMarkdown writes a sweep's medians by load.
func sweepMarkdown(b *strings.Builder, s *Sweep) {
	fmt.Fprintf(b, "### Sweep %s\n\n| %s | tok/s | req/s | TTFT p50 | TTFT p99 | ITL p50 | ITL p99 | tok/s per user |\n|--:|--:|--:|--:|--:|--:|--:|--:|\n",
		mdCode(s.Name), mdText(s.XLabel))
	for i, p := range s.Points {
		med := func(u string) float64 { return robust.Median(p.Cur.Values(u)) }
		fmt.Fprintf(b, "| %g | %s | %s | %s | %s | %s | %s | %s |\n", s.X[i],
			num(med(metric.TokenRate)), num(med(metric.RequestRate)), secs(med(metric.TTFTP50)), secs(med(metric.TTFTP99)),
			secs(med(metric.ITLP50)), secs(med(metric.ITLP99)), num(perUser(p.Cur)))
	}
	fmt.Fprintf(b, "\nMedians over each point's repetitions; tokens/s per user is 1 / TPOT p50.\n\n")
}

// perUser is a run's tokens/s per user: 1 / median TPOT p50 (NaN without TPOT).
func perUser(f *resultfile.File) float64 {
	tpot := robust.Median(f.Values(metric.TPOTP50))
	if !(tpot > 0) {
		return math.NaN()
	}
	return 1 / tpot
}

func num(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return benchunit.Scale(v, benchunit.Decimal)
}

func secs(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	if v < 1e-3 {
		return fmt.Sprintf("%.0f µs", 1e6*v)
	}
	return fmt.Sprintf("%.1f ms", 1e3*v)
}

func historyVerdict(h *History) string {
	worse := 0
	for _, cp := range h.Changes {
		if cp.Worse {
			worse++
		}
	}
	if len(h.Changes) == 0 {
		return "no change point"
	}
	return fmt.Sprintf("%d change %s, %d worse", len(h.Changes), plural(len(h.Changes), "point", "points"), worse)
}

func (r *Report) historyMarkdown(b *strings.Builder, h *History) {
	fmt.Fprintf(b, "### History %s\n\n%d runs in %s, %s to %s: %s.\n\n", mdCode(h.Case), len(h.Entries), mdCode(r.display(h.Path)),
		h.Entries[0].Time.UTC().Format(time.DateTime), h.Entries[len(h.Entries)-1].Time.UTC().Format(time.DateTime), historyVerdict(h))
	if len(h.Changes) == 0 {
		return
	}
	b.WriteString("| metric | from run | commit | before | after | change |\n|---|--:|---|--:|--:|--:|\n")
	for _, cp := range h.Changes {
		dir := "better"
		if cp.Worse {
			dir = "**worse**"
		}
		fmt.Fprintf(b, "| %s | #%d | %s | %s | %s | %+.1f%% %s |\n", mdCell(cp.Unit), cp.Index+1, shortCommit(cp.Commit),
			num(cp.Before), num(cp.After), 100*cp.Change, dir)
	}
	b.WriteString("\n")
}

func shortCommit(c string) string {
	if c == "" {
		return "-"
	}
	if len(c) > 12 {
		c = c[:12]
	}
	return mdCell(c)
}

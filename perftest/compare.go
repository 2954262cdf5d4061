package perftest

import (
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/perf/benchfmt"
	"golang.org/x/perf/benchmath"
	"golang.org/x/perf/benchunit"
)

// ResultFile is a result file (or an in-memory Result) read for comparison: one case,
// its config lines, and each metric's values across repetitions.
type ResultFile struct {
	Path   string
	Name   string
	Config []KV
	Units  []string             // in file order
	Values map[string][]float64 // unit -> one value per repetition
	// LowerBetter holds each unit's direction from its `Unit ... better=` line (or
	// perfgate's own default for the unit).
	LowerBetter map[string]bool
}

// FormatError is a problem in a result or baseline file, with its position.
type FormatError struct {
	File string
	Line int
	Msg  string
}

func (e *FormatError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// ReadResultFile reads a file perfgate (or any Go benchmark) wrote.
func ReadResultFile(path string) (*ResultFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read results: %w", err)
	}
	defer f.Close()
	return ParseResults(f, path)
}

// ParseResults reads results in Go benchmark format. The file must hold one benchmark name
// with one config, and every result line must carry the same units: a truncated or
// hand-edited file is an error naming the line, never a silently smaller sample.
func ParseResults(r io.Reader, fileName string) (*ResultFile, error) {
	br := benchfmt.NewReader(r, fileName)
	rf := &ResultFile{Path: fileName, Values: map[string][]float64{}, LowerBetter: map[string]bool{}}
	var firstCfg []KV
	results := 0
	for br.Scan() {
		switch rec := br.Result().(type) {
		case *benchfmt.SyntaxError:
			return nil, &FormatError{fileName, rec.Line, rec.Msg}
		case *benchfmt.Result:
			_, line := rec.Pos()
			var cfg []KV
			for _, c := range rec.Config {
				if c.File {
					cfg = append(cfg, KV{c.Key, string(c.Value)})
				}
			}
			name := rec.Name.String()
			if results == 0 {
				rf.Name, firstCfg = name, cfg
			} else if name != rf.Name {
				return nil, &FormatError{fileName, line, fmt.Sprintf("benchmark %q differs from %q: one file holds one case", name, rf.Name)}
			} else if !slices.Equal(cfg, firstCfg) {
				return nil, &FormatError{fileName, line, "config lines change within the file: one file holds one setup"}
			}
			var units []string
			for _, v := range rec.Values {
				u, val := v.OrigUnit, v.OrigValue
				if u == "" {
					u, val = v.Unit, v.Value
				}
				if slices.Contains(units, u) {
					return nil, &FormatError{fileName, line, fmt.Sprintf("unit %q appears twice", u)}
				}
				if math.IsNaN(val) || math.IsInf(val, 0) {
					return nil, &FormatError{fileName, line, fmt.Sprintf("unit %q: value is not finite", u)}
				}
				units = append(units, u)
				rf.Values[u] = append(rf.Values[u], val)
			}
			if results == 0 {
				rf.Units = units
			} else if !sameSet(units, rf.Units) {
				return nil, &FormatError{fileName, line, fmt.Sprintf("units %v differ from the first result's %v (truncated or edited line?)", units, rf.Units)}
			}
			results++
		}
	}
	if err := br.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", fileName, err)
	}
	if results == 0 {
		return nil, &FormatError{fileName, 0, "no benchmark result lines"}
	}
	rf.Config = firstCfg
	unitsMeta := br.Units()
	for _, u := range rf.Units {
		switch unitsMeta.GetBetter(u) {
		case -1:
			rf.LowerBetter[u] = true
		case 1:
			rf.LowerBetter[u] = false
		default:
			d, ok := lookupMetric(u)
			rf.LowerBetter[u] = !ok || d.lowerBetter
		}
	}
	return rf, nil
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

// File returns the result as it would be read back from its file.
func (r *Result) File() *ResultFile {
	rf := &ResultFile{Path: r.Name, Name: r.Name, Config: r.Config, Values: map[string][]float64{}, LowerBetter: map[string]bool{}}
	for _, rep := range r.Reps {
		for _, m := range rep.Metrics {
			if _, seen := rf.Values[m.Unit]; !seen {
				rf.Units = append(rf.Units, m.Unit)
				d, ok := lookupMetric(m.Unit)
				rf.LowerBetter[m.Unit] = !ok || d.lowerBetter
			}
			rf.Values[m.Unit] = append(rf.Values[m.Unit], m.Value)
		}
	}
	return rf
}

// infoKeys are config keys that describe where a run happened but need not match for two
// runs to be comparable. Every other key (backend, model, image, workload, fingerprint,
// load, api, ...) must match.
var infoKeys = map[string]bool{"goos": true, "goarch": true, "cpu": true, "pkg": true, "date": true, "commit": true, "host": true, "cache-reset": true}

// ConfigDiff returns "" when two result files describe the same setup, else a go-cmp diff
// (-baseline +current) of the config keys that must match.
func ConfigDiff(base, cur *ResultFile) string {
	pick := func(rf *ResultFile) map[string]string {
		m := map[string]string{"(case)": rf.Name}
		for _, kv := range rf.Config {
			if !infoKeys[kv.Key] {
				m[kv.Key] = kv.Value
			}
		}
		return m
	}
	return cmp.Diff(pick(base), pick(cur))
}

// Options tune a comparison. The zero value uses alpha 0.05 and each metric's default
// threshold.
type Options struct {
	// Alpha is the family-wise significance level across a case's metrics (0: 0.05).
	Alpha float64
	// Threshold, when > 0, is the smallest relative change acted on for every metric.
	Threshold float64
	// Thresholds overrides the threshold per unit.
	Thresholds map[string]float64
}

// Verdict is the gate's reading of one metric.
type Verdict int

// Verdicts.
const (
	Unchanged   Verdict = iota // no significant change larger than the threshold
	Regression                 // significantly worse by more than the threshold
	Improvement                // significantly better by more than the threshold
)

func (v Verdict) String() string {
	switch v {
	case Regression:
		return "REGRESSION"
	case Improvement:
		return "improvement"
	}
	return "~"
}

// Delta compares one metric of two runs.
type Delta struct {
	Unit        string
	LowerBetter bool
	Base, Cur   benchmath.Summary // median with its 95% confidence interval
	NBase, NCur int
	// Change is the relative change of the medians, cur/base - 1 (±Inf from a zero base).
	Change float64
	// P is the Mann-Whitney U p-value; PAdj is P after Holm's correction across the case's
	// metrics, which is what is compared with alpha.
	P, PAdj   float64
	Threshold float64
	Verdict   Verdict
	Warnings  []string
}

// Report is the comparison of two runs of a case.
type Report struct {
	Base, Cur *ResultFile
	Alpha     float64
	Deltas    []Delta
}

// Regressions returns the metrics judged worse.
func (r *Report) Regressions() []Delta {
	var out []Delta
	for _, d := range r.Deltas {
		if d.Verdict == Regression {
			out = append(out, d)
		}
	}
	return out
}

// Compare tests every metric the two runs share with a Mann-Whitney U test and corrects the
// p-values for testing many metrics at once (Holm-Bonferroni). A metric regresses only when
// its change is significant, in the worse direction, and larger than its threshold.
func Compare(base, cur *ResultFile, opt Options) *Report {
	alpha := opt.Alpha
	if alpha <= 0 {
		alpha = 0.05
	}
	rep := &Report{Base: base, Cur: cur, Alpha: alpha}
	thr := benchmath.DefaultThresholds
	thr.CompareAlpha = alpha
	for _, u := range base.Units {
		cv, ok := cur.Values[u]
		if !ok {
			continue
		}
		bs := benchmath.NewSample(slices.Clone(base.Values[u]), &thr)
		cs := benchmath.NewSample(slices.Clone(cv), &thr)
		d := Delta{
			Unit:        u,
			LowerBetter: base.LowerBetter[u],
			Base:        benchmath.AssumeNothing.Summary(bs, 0.95),
			Cur:         benchmath.AssumeNothing.Summary(cs, 0.95),
			NBase:       len(bs.Values),
			NCur:        len(cs.Values),
		}
		c := benchmath.AssumeNothing.Compare(bs, cs)
		d.P = c.P
		if math.IsNaN(d.P) {
			d.P = 1
		}
		for _, w := range append(c.Warnings, append(bs.Warnings, cs.Warnings...)...) {
			d.Warnings = append(d.Warnings, w.Error())
		}
		switch {
		case d.Base.Center == d.Cur.Center:
			d.Change = 0
		case d.Base.Center == 0:
			d.Change = math.Inf(1)
			if d.Cur.Center < 0 {
				d.Change = math.Inf(-1)
			}
		default:
			d.Change = d.Cur.Center/d.Base.Center - 1
		}
		d.Threshold = threshold(u, opt)
		rep.Deltas = append(rep.Deltas, d)
	}
	holm(rep.Deltas)
	for i := range rep.Deltas {
		d := &rep.Deltas[i]
		if d.PAdj >= alpha || math.Abs(d.Change) <= d.Threshold {
			continue
		}
		worse := d.Change > 0 == d.LowerBetter
		if worse {
			d.Verdict = Regression
		} else {
			d.Verdict = Improvement
		}
	}
	return rep
}

func threshold(unit string, opt Options) float64 {
	if t, ok := opt.Thresholds[unit]; ok {
		return t
	}
	if opt.Threshold > 0 {
		return opt.Threshold
	}
	if d, ok := lookupMetric(unit); ok {
		return d.threshold
	}
	return 0.05
}

// holm sets PAdj by the Holm-Bonferroni step-down method.
func holm(ds []Delta) {
	idx := make([]int, len(ds))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return ds[idx[a]].P < ds[idx[b]].P })
	m := len(ds)
	running := 0.0
	for rank, i := range idx {
		running = max(running, min(1, float64(m-rank)*ds[i].P))
		ds[i].PAdj = running
	}
}

// WriteText writes a benchstat-style table.
func (r *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "metric\tbaseline\tcurrent\tchange\tp (holm)\tverdict\n")
	for _, d := range r.Deltas {
		change := "~"
		if d.Change != 0 {
			change = fmt.Sprintf("%+.2f%%", 100*d.Change)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.3f (n=%d+%d)\t%s\n", d.Unit, fmtSummary(d.Base), fmtSummary(d.Cur), change, d.PAdj, d.NBase, d.NCur, d.Verdict)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var warns []string
	for _, d := range r.Deltas {
		for _, wn := range d.Warnings {
			warns = append(warns, d.Unit+": "+wn)
		}
	}
	if len(warns) > 0 {
		if _, err := fmt.Fprintf(w, "warnings:\n  %s\n", strings.Join(slices.Compact(warns), "\n  ")); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, "alpha %.3g after Holm correction across %d metrics; thresholds per metric\n", r.Alpha, len(r.Deltas))
	return err
}

func fmtSummary(s benchmath.Summary) string {
	c := benchunit.Scale(s.Center, benchunit.Decimal)
	if s.Center == 0 {
		return c
	}
	spread := math.Max(s.Hi-s.Center, s.Center-s.Lo) / math.Abs(s.Center)
	return fmt.Sprintf("%s ± %.0f%%", c, 100*spread)
}

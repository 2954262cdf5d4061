package perftest

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/aclements/go-moremath/mathx"
	"github.com/aclements/go-moremath/stats"
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
// with one config. A line may lack some units (a repetition in which no request succeeded
// has no latencies), so a unit's sample can be smaller than the number of lines; the
// comparison table shows each sample's size. A line cut inside a field is a syntax error
// naming the file and line; a line cut between fields is found because it does not end
// with the first line's last unit.
func ParseResults(r io.Reader, fileName string) (*ResultFile, error) {
	br := benchfmt.NewReader(r, fileName)
	rf := &ResultFile{Path: fileName, Values: map[string][]float64{}, LowerBetter: map[string]bool{}}
	var firstCfg []KV
	var lastUnit string
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
				if _, seen := rf.Values[u]; !seen {
					rf.Units = append(rf.Units, u)
				}
				rf.Values[u] = append(rf.Values[u], val)
			}
			if len(units) == 0 {
				return nil, &FormatError{fileName, line, "result line without values"}
			}
			// perfgate writes every line with the same last unit (error-rate); a line
			// cut between two fields loses it.
			if results == 0 {
				lastUnit = units[len(units)-1]
			} else if last := units[len(units)-1]; last != lastUnit {
				return nil, &FormatError{fileName, line, fmt.Sprintf("line ends with unit %q where the first result ends with %q (truncated or edited line?)", last, lastUnit)}
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
// (-baseline +current) of the config keys that must match. The "hardware" key (see
// HardwareClass) is compared only when both files carry it.
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
	b, c := pick(base), pick(cur)
	// Files written before perfgate recorded the hardware class lack the key: compare it
	// only when both sides know it.
	if _, ok := b[hardwareKey]; !ok {
		delete(c, hardwareKey)
	}
	if _, ok := c[hardwareKey]; !ok {
		delete(b, hardwareKey)
	}
	return cmp.Diff(b, c)
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

// MarshalText writes the verdict as "regression", "improvement" or "unchanged".
func (v Verdict) MarshalText() ([]byte, error) {
	switch v {
	case Regression:
		return []byte("regression"), nil
	case Improvement:
		return []byte("improvement"), nil
	}
	return []byte("unchanged"), nil
}

// Delta compares one metric of two runs.
type Delta struct {
	Unit        string
	LowerBetter bool
	Base, Cur   benchmath.Summary // median with its 95% confidence interval
	NBase, NCur int
	// Change is the relative change of the medians, cur/base - 1 (±Inf from a zero base).
	Change float64
	// P is the two-sided Mann-Whitney U p-value, as benchstat prints it. PAdj is the
	// one-sided p-value in the direction the metric moved (P/2) after Holm's correction
	// across the case's metrics within that direction's family (see Compare): that is
	// what is compared with alpha.
	P, PAdj float64
	// Threshold is the smallest relative change the verdict acts on: the larger of
	// ConfiguredThreshold and NoiseFloor.
	Threshold float64
	// ConfiguredThreshold is the metric's threshold from Options or its default.
	ConfiguredThreshold float64
	// NoiseFloor is what the baseline's own spread can resolve: the relative half-width of
	// a 95% confidence interval for the baseline median, from its robust spread (see
	// noiseFloor).
	NoiseFloor float64
	// MinP is the smallest one-sided p-value the U test can reach at these sample sizes,
	// 1/C(NBase+NCur, NBase): with fewer than 4 repetitions a side it is 0.05 or more.
	MinP float64
	// MDE is the minimum detectable effect: the smallest relative regression this
	// comparison would call a REGRESSION with 80% probability, given the sample sizes, the
	// spread of both samples, Holm's correction for a metric regressing alone, and
	// Threshold (see mdeFor). +Inf: no regression of this metric alone can be detected;
	// NaN: the baseline median is zero, so a relative effect has no meaning.
	MDE      float64
	Verdict  Verdict
	Warnings []string

	dir int // sign of the rank statistic: +1 current larger, -1 smaller
}

// Report is the comparison of two runs of a case.
type Report struct {
	Base, Cur *ResultFile
	Alpha     float64
	Deltas    []Delta
	// Warnings concern the comparison as a whole: too few repetitions for any verdict,
	// metrics present on one side only.
	Warnings []string
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

// Improvements returns the metrics judged better.
func (r *Report) Improvements() []Delta {
	var out []Delta
	for _, d := range r.Deltas {
		if d.Verdict == Improvement {
			out = append(out, d)
		}
	}
	return out
}

// mdePower is the detection probability the minimum detectable effect is quoted at.
const mdePower = 0.8

// Compare tests every metric the two runs share with a Mann-Whitney U test and corrects the
// p-values for testing many metrics at once (Holm-Bonferroni, one family for regressions
// and one for improvements, so that false regressions stay below alpha per case). A metric
// regresses only when its change is significant, in the worse direction, and larger than
// its threshold, which is never below the baseline's noise floor. Every metric also gets
// its minimum detectable effect, and the report warns when the sample sizes cannot support
// a verdict.
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
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s: in the baseline only; not compared", u))
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
			// All-equal samples mean no change; benchmath's sample-size advice is replaced
			// by the report's own, which accounts for Holm.
			if errors.Is(w, stats.ErrSamplesEqual) || strings.HasPrefix(w.Error(), "need ") {
				continue
			}
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
		d.ConfiguredThreshold = threshold(u, opt)
		d.NoiseFloor = noiseFloor(bs.Values, d.Base.Center)
		d.Threshold = max(d.ConfiguredThreshold, d.NoiseFloor)
		d.MinP = minP(d.NBase, d.NCur)
		rep.Deltas = append(rep.Deltas, d)
	}
	for _, u := range cur.Units {
		if _, ok := base.Values[u]; !ok {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s: in the current run only; not compared", u))
		}
	}
	rep.adjust(alpha)
	// The MDE is for a metric regressing alone: its one-sided p-value must be below
	// alpha/m, which is a two-sided level of 2 alpha/m.
	lone := 2 * alpha / float64(max(1, len(rep.Deltas)))
	for i := range rep.Deltas {
		d := &rep.Deltas[i]
		d.MDE = mdeFor(d, base.Values[d.Unit], cur.Values[d.Unit], lone)
		if d.PAdj >= alpha || math.Abs(d.Change) <= d.Threshold || d.dir == 0 {
			continue
		}
		worse := d.Change > 0 == d.LowerBetter
		if worse != (d.dir > 0 == d.LowerBetter) {
			continue // the medians and the ranks disagree on the direction
		}
		if worse {
			d.Verdict = Regression
		} else {
			d.Verdict = Improvement
		}
	}
	rep.Warnings = append(rep.Warnings, sampleSizeWarnings(rep.Deltas, alpha)...)
	return rep
}

// adjust sets every PAdj. The gate tests two one-sided families: "this metric got worse"
// and "this metric got better". A metric's one-sided p-value in the direction its ranks
// moved is P/2 (P is benchstat's two-sided p), 1-P/2 in the other; Holm's step-down method
// then runs over each family separately, so false regressions (and, separately, false
// improvements) stay below alpha per case whatever the dependence between metrics.
func (r *Report) adjust(alpha float64) {
	worse := make([]float64, len(r.Deltas))
	better := make([]float64, len(r.Deltas))
	for i := range r.Deltas {
		d := &r.Deltas[i]
		d.dir = rankDirection(r.Base.Values[d.Unit], r.Cur.Values[d.Unit])
		worse[i], better[i] = 1, 1
		if d.dir == 0 {
			continue
		}
		half := d.P / 2
		if d.dir > 0 == d.LowerBetter {
			worse[i], better[i] = half, 1-half
		} else {
			worse[i], better[i] = 1-half, half
		}
	}
	aw, ab := holmAdjust(worse), holmAdjust(better)
	for i := range r.Deltas {
		d := &r.Deltas[i]
		d.PAdj = aw[i]
		if d.dir != 0 && d.dir > 0 != d.LowerBetter {
			d.PAdj = ab[i]
		}
	}
}

// rankDirection is the sign of the Mann-Whitney statistic: +1 when the current values tend
// to be larger than the baseline's, -1 when smaller, 0 when neither.
func rankDirection(base, cur []float64) int {
	s := 0
	for _, b := range base {
		for _, c := range cur {
			switch {
			case c > b:
				s++
			case c < b:
				s--
			}
		}
	}
	return cmpSign(s)
}

func cmpSign(s int) int {
	switch {
	case s > 0:
		return 1
	case s < 0:
		return -1
	}
	return 0
}

// sampleSizeWarnings says plainly when the repetition counts rule verdicts out: below the
// U test's reach at alpha (fewer than 4 a side at 0.05), or below what Holm's correction
// needs for one metric changing alone.
func sampleSizeWarnings(ds []Delta, alpha float64) []string {
	if len(ds) == 0 {
		return nil
	}
	m := len(ds)
	n1, n2 := ds[0].NBase, ds[0].NCur
	for _, d := range ds {
		n1, n2 = min(n1, d.NBase), min(n2, d.NCur)
	}
	p := minP(n1, n2)
	need := func(a float64) int {
		for n := 2; n < 100; n++ {
			if minP(n, n) < a {
				return n
			}
		}
		return 100
	}
	switch {
	case p >= alpha:
		return []string{fmt.Sprintf("with %d baseline and %d current repetitions the smallest p-value the rank test can reach is %.3g, not below alpha %g: NO CHANGE CAN BE SIGNIFICANT, whatever its size, so \"no regression\" here means nothing; use at least %d repetitions a side (10 recommended, -perf.count)",
			n1, n2, p, alpha, need(alpha))}
	case p >= alpha/float64(m):
		return []string{fmt.Sprintf("with %d baseline and %d current repetitions the smallest p-value is %.3g: after Holm's correction across %d metrics, a metric regressing alone (needs p < %.3g) cannot be detected, only changes shared by several metrics can; use at least %d repetitions a side (-perf.count)",
			n1, n2, p, m, alpha/float64(m), need(alpha/float64(m)))}
	}
	return nil
}

// minP is the smallest one-sided p-value of the exact Mann-Whitney U test with samples of
// n1 and n2 values and no ties: the samples fully separated, 1/C(n1+n2, n1).
func minP(n1, n2 int) float64 {
	if n1 == 0 || n2 == 0 {
		return 1
	}
	return min(1, 1/mathx.Choose(n1+n2, n1))
}

// noiseFloor is the relative resolution of the baseline's median: the half-width of a 95%
// confidence interval for it, 1.96 x 1.2533 x sigma / sqrt(n), with sigma the baseline's
// robust standard deviation (1.4826 x its median absolute deviation) and 1.2533 sqrt(pi/2)
// the standard error of a median in units of sigma/sqrt(n). A threshold below it would act
// on changes smaller than the uncertainty of the baseline itself.
func noiseFloor(base []float64, centre float64) float64 {
	if centre == 0 || len(base) == 0 {
		return 0
	}
	return 1.96 * math.Sqrt(math.Pi/2) * robustSigma(base) / math.Sqrt(float64(len(base))) / math.Abs(centre)
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

// holm sets PAdj from P by the Holm-Bonferroni step-down method.
func holm(ds []Delta) {
	ps := make([]float64, len(ds))
	for i, d := range ds {
		ps[i] = d.P
	}
	for i, p := range holmAdjust(ps) {
		ds[i].PAdj = p
	}
}

// holmAdjust returns Holm-Bonferroni adjusted p-values: the i-th smallest of m is
// multiplied by m-i (i from 0), and the results are made monotone and capped at 1.
func holmAdjust(ps []float64) []float64 {
	idx := make([]int, len(ps))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return ps[idx[a]] < ps[idx[b]] })
	m := len(ps)
	out := make([]float64, m)
	running := 0.0
	for rank, i := range idx {
		running = max(running, min(1, float64(m-rank)*ps[i]))
		out[i] = running
	}
	return out
}

// WriteText writes a benchstat-style table, then the warnings and how to read it.
func (r *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "metric\tbaseline\tcurrent\tchange\tp (holm)\tthreshold\tMDE\tverdict\n")
	raised := false
	for _, d := range r.Deltas {
		thr := fmtPct(d.Threshold)
		if d.NoiseFloor > d.ConfiguredThreshold {
			thr += "*"
			raised = true
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.3f (n=%d+%d)\t%s\t%s\t%s\n", d.Unit, fmtSummary(d.Base), fmtSummary(d.Cur), fmtChange(d.Change), d.PAdj, d.NBase, d.NCur, thr, fmtMDE(d.MDE), d.Verdict)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if warns := r.allWarnings(); len(warns) > 0 {
		if _, err := fmt.Fprintf(w, "warnings:\n  %s\n", strings.Join(warns, "\n  ")); err != nil {
			return err
		}
	}
	if _, err := fmt.Fprintf(w, "%s\n", r.legend()); err != nil {
		return err
	}
	if raised {
		_, err := fmt.Fprintln(w, "* threshold raised to the baseline's noise floor (the 95% uncertainty of its median)")
		return err
	}
	return nil
}

func (r *Report) legend() string {
	return fmt.Sprintf("alpha %.3g after Holm correction across %d metrics; MDE: smallest regression caught with %.0f%% probability at these sample sizes and spread (see README, \"Gate statistics and power\")",
		r.Alpha, len(r.Deltas), 100*mdePower)
}

// allWarnings is the report's warnings followed by each metric's, prefixed by its unit.
func (r *Report) allWarnings() []string {
	warns := slices.Clone(r.Warnings)
	for _, d := range r.Deltas {
		for _, wn := range d.Warnings {
			if s := d.Unit + ": " + wn; !slices.Contains(warns, s) {
				warns = append(warns, s)
			}
		}
	}
	return warns
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

package gate

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/aclements/go-moremath/stats"
	"golang.org/x/perf/benchmath"

	"github.com/perfgate/perfgate/perftest/attrib"
	"github.com/perfgate/perfgate/perftest/internal/robust"
	"github.com/perfgate/perfgate/perftest/metric"
	"github.com/perfgate/perfgate/perftest/resultfile"
)

// Options tune a comparison. DefaultOptions is what perfgate uses when nothing is set.
type Options struct {
	// Alpha is the family-wise significance level across a case's metrics (0: 0.05).
	Alpha float64
	// Threshold is the smallest relative change acted on for units not in Units (0: 0.05).
	Threshold float64
	// Units says, per unit, which direction is better and the smallest relative change acted
	// on. A unit's direction comes from the baseline's `Unit ... better=` line when it has
	// one, else from here, else lower is better.
	Units map[string]Unit
	// Figure reports whether a unit is a machine figure (how busy the machine was) rather
	// than a metric of the system under test: figures are shown beside the metrics and
	// never tested (nil: every unit is a metric).
	Figure func(unit string) bool
	// Noise, when set, compares the machines the two runs measured; a regression or an
	// improvement the difference can explain is Inconclusive (see Noise).
	Noise func(base, cur *resultfile.File) Noise
	// Sequential, when set, says the comparison is a look of a group-sequential design:
	// the p-values account for the looks taken and planned (see Sequential).
	Sequential *Sequential
	// AttributeAll attributes the change of every latency (Report.Attributions), not only
	// of those flagged.
	AttributeAll bool
	// Paired compares the runs pair by pair, repetition i of cur against repetition i of
	// base (the two sides of a paired A/B run, see PairedOrder): the signed-rank test and
	// Hodges-Lehmann estimate of the paired changes (Delta.Pairs) replace the rank test
	// and the change of the medians.
	Paired bool
}

// Unit is what the gate knows of one metric.
type Unit struct {
	LowerBetter bool
	// Threshold is the smallest relative change of the median acted on (0 acts on any
	// significant change, as for error rates).
	Threshold float64
	// Percent shows the metric's values as percentages (a fraction: hit ratio, KV usage,
	// error rate); files keep the fraction, as benchstat reads it.
	Percent bool
}

// DefaultOptions holds the defaults of a zero Options.
var DefaultOptions = Options{Alpha: 0.05, Threshold: 0.05}

// OptionsFor returns the Options for the metrics of a vocabulary (nil: metric.Default()):
// each gated metric's direction and default threshold, every threshold replaced by
// threshold when it is above 0, at family-wise significance alpha (0: 0.05), with the
// vocabulary's machine figures shown and not tested.
func OptionsFor(set *metric.Set, alpha, threshold float64) Options {
	opt := Options{Alpha: alpha, Threshold: threshold, Units: map[string]Unit{}, Figure: set.IsFigure}
	for _, d := range set.Gated() {
		u := Unit{LowerBetter: d.LowerBetter, Threshold: d.Threshold, Percent: d.Kind == metric.Fraction}
		if threshold > 0 {
			u.Threshold = threshold
		}
		opt.Units[d.Name] = u
	}
	return opt
}

// Verdict is the gate's reading of one metric.
type Verdict int

// Verdicts.
const (
	Unchanged   Verdict = iota // no significant change larger than the threshold
	Regression                 // significantly worse by more than the threshold
	Improvement                // significantly better by more than the threshold
	// Inconclusive: significantly worse beyond the threshold, but no longer beyond it once
	// the change the current run's measurably busier machine can explain is taken off.
	Inconclusive
	// Undecided: no regression of the metric can be significant at these repetition
	// counts (MDE none), whatever its size: not a pass. See Report.Undecideds.
	Undecided
)

func (v Verdict) String() string {
	switch v {
	case Regression:
		return "REGRESSION"
	case Improvement:
		return "improvement"
	case Inconclusive:
		return "INCONCLUSIVE"
	case Undecided:
		return "UNDECIDED"
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
	case Inconclusive:
		return []byte("inconclusive"), nil
	case Undecided:
		return []byte("undecided"), nil
	}
	return []byte("unchanged"), nil
}

// Delta compares one metric of two runs.
type Delta struct {
	Unit        string
	LowerBetter bool
	// Percent is Unit.Percent: the reports show the values as percentages.
	Percent     bool
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
	// ConfiguredThreshold is the metric's threshold from Options.
	ConfiguredThreshold float64
	// NoiseFloor is what the baseline's own spread can resolve: the relative half-width of
	// a 95% confidence interval for the baseline median, 1.96 x 1.2533 x sigma / sqrt(n),
	// with sigma the baseline's robust standard deviation.
	NoiseFloor float64
	// MinP is the smallest one-sided p-value the U test can reach at these sample sizes,
	// 1/C(NBase+NCur, NBase): with fewer than 4 repetitions a side it is 0.05 or more.
	MinP float64
	// MDE is the minimum detectable effect: the smallest relative regression this
	// comparison would call a REGRESSION with 80% probability, given the sample sizes, the
	// spread of both samples, Holm's correction for a metric regressing alone, and
	// Threshold (see MDE). +Inf: no regression of this metric alone can be detected;
	// NaN: the baseline median is zero, so a relative effect has no meaning.
	MDE     float64
	Verdict Verdict
	// Explained is the relative change a busier machine can explain (Options.Noise), in
	// the direction the busier side moves the metric; 0 when the machines compare alike.
	Explained float64
	// Figure marks a machine figure (Options.Figure): summarized, never tested.
	Figure bool
	// Warnings concern this metric alone.
	Warnings []error
	// Pairs is the paired analysis (Options.Paired; nil otherwise): Change is then its
	// Hodges-Lehmann estimate, P and PAdj the signed-rank test's.
	Pairs *Pairs

	dir int // sign of the rank statistic: +1 current larger, -1 smaller
	// One-sided p-values for "worse" and "better", before Holm's correction: P/2 in the
	// direction the ranks moved and 1-P/2 in the other (or the sequential p-values, see
	// Sequential).
	pWorse, pBetter float64
}

// Report is the comparison of two runs of a case.
type Report struct {
	Base, Cur *resultfile.File
	Alpha     float64
	// Deltas are the metrics, tested, then the machine figures (Delta.Figure).
	Deltas []Delta
	// Noise is how the two machines compare (nil without Options.Noise).
	Noise *Noise
	// Sequential is the design this comparison is a look of (nil: a fixed design).
	Sequential *Sequential
	// Warnings concern the comparison as a whole: too few repetitions for any verdict,
	// metrics present on one side only. Each wraps one of the Err* sentinels.
	Warnings []error
	// Attributions say why the flagged latencies changed (Options.AttributeAll: every
	// latency), from the part-* figures of both runs (perftest/attrib).
	Attributions []attrib.Attribution
	// Cache says how the runs' cache states differ ("" when alike): said before any
	// latency verdict (perftest/attrib's CacheStates).
	Cache string
	// Figures are the server figures that moved, where some metric was flagged (or with
	// Options.AttributeAll), the prefix hit ratio first.
	Figures []attrib.Figure
	// Missing are the baseline's gated metrics the current run lacks, and Added the
	// current run's gated metrics the baseline lacks (see Refusal).
	Missing, Added []string
	// Pairs is the number of pairs of a paired comparison (Options.Paired), 0 otherwise.
	Pairs int
}

// Regressions returns the metrics judged worse.
func (r *Report) Regressions() []Delta { return r.with(Regression) }

// Inconclusives returns the metrics whose regression a busier machine can explain.
func (r *Report) Inconclusives() []Delta { return r.with(Inconclusive) }

// Undecideds returns the metrics no regression of which can be significant at these
// repetition counts: the comparison cannot decide them, which is not a pass.
func (r *Report) Undecideds() []Delta { return r.with(Undecided) }

// Improvements returns the metrics judged better.
func (r *Report) Improvements() []Delta { return r.with(Improvement) }

func (r *Report) with(v Verdict) []Delta {
	var out []Delta
	for _, d := range r.Deltas {
		if d.Verdict == v {
			out = append(out, d)
		}
	}
	return out
}

// MDEPower is the detection probability the minimum detectable effect is quoted at.
const MDEPower = 0.8

// Compare tests every metric the two runs share with a Mann-Whitney U test and corrects the
// p-values for testing many metrics at once (Holm-Bonferroni, one family for regressions
// and one for improvements, so that false regressions stay below alpha per case). A metric
// regresses only when its change is significant, in the worse direction, and larger than
// its threshold, which is never below the baseline's noise floor. Every metric also gets
// its minimum detectable effect, and the report warns when the sample sizes cannot support
// a verdict. Compare does not check that the files describe the same setup (see
// resultfile.Diff).
func Compare(base, cur *resultfile.File, opt Options) *Report {
	rep, _ := CompareContext(context.Background(), base, cur, opt)
	return rep
}

// CompareContext is Compare that stops when ctx is done, returning no report and ctx's
// cause (context.Cause: with signal.NotifyContext, the signal). It checks ctx before each
// metric's tests and before each metric's minimum detectable effect, the steps whose cost
// grows with the repetitions (O(n log n) each), so an interrupt ends even a comparison of
// files of 100,000s of repetitions within one metric's work.
func CompareContext(ctx context.Context, base, cur *resultfile.File, opt Options) (*Report, error) {
	alpha := cmpOr(opt.Alpha, DefaultOptions.Alpha)
	rep := &Report{Base: base, Cur: cur, Alpha: alpha, Sequential: opt.Sequential}
	if opt.Paired {
		rep.Pairs = min(len(base.Reps), len(cur.Reps))
	}
	var figures []Delta
	for _, u := range base.Units {
		if err := ctx.Err(); err != nil {
			return nil, context.Cause(ctx)
		}
		if metric.IsPart(u) {
			continue // attribution's input (Report.Attributions), neither tested nor listed
		}
		figure := opt.Figure != nil && opt.Figure(u)
		switch {
		case !slices.Contains(cur.Units, u) && !figure:
			rep.Missing = append(rep.Missing, u)
		case figure && slices.Contains(cur.Units, u):
			figures = append(figures, summarizeFigure(u, base, cur, opt))
		case !figure:
			rep.Deltas = append(rep.Deltas, compareUnit(u, base, cur, opt))
		}
	}
	for _, u := range cur.Units {
		if !slices.Contains(base.Units, u) && (opt.Figure == nil || !opt.Figure(u)) && !metric.IsPart(u) {
			rep.Added = append(rep.Added, u)
			rep.Warnings = append(rep.Warnings, fmt.Errorf("%s: %w: in the current run only (a new metric: re-record the baseline with -perf.update to gate it)", u, ErrOneSided))
		}
	}
	if opt.Sequential != nil {
		opt.Sequential.pvalues(rep.Deltas, base, cur)
		if err := ctx.Err(); err != nil {
			return nil, context.Cause(ctx)
		}
	}
	rep.adjust()
	// The MDE is for a metric regressing alone: its one-sided p-value must be below
	// alpha/m, which is a two-sided level of 2 alpha/m (under a sequential design, the
	// nominal level of the current look that corresponds to it).
	lone := 2 * alpha / float64(max(1, len(rep.Deltas)))
	if opt.Sequential != nil {
		lone = 2 * opt.Sequential.nominal(lone/2, len(cur.Reps), len(base.Reps))
	}
	for i := range rep.Deltas {
		if err := ctx.Err(); err != nil {
			return nil, context.Cause(ctx)
		}
		d := &rep.Deltas[i]
		d.MDE = MDE(d.NBase, d.NCur, lone, d.Threshold, robust.Sigma(base.Values(d.Unit), cur.Values(d.Unit))/math.Abs(d.Base.Center))
		if d.Base.Center == 0 {
			d.MDE = math.NaN()
		}
		if d.Pairs != nil {
			setPairedMDE(d, base, cur, lone)
		}
		d.Verdict = verdict(d, alpha)
		if d.Verdict == Unchanged && math.IsInf(d.MDE, 1) {
			d.Verdict = Undecided
		}
	}
	rep.Warnings = append(rep.Warnings, sampleSizeWarnings(rep.Deltas, alpha)...)
	if opt.Noise != nil {
		rep.judgeNoise(opt.Noise(base, cur))
	}
	rep.Deltas = append(rep.Deltas, figures...)
	rep.attribute(opt.AttributeAll)
	return rep, nil
}

// compareUnit summarizes and tests one unit; PAdj, MDE and Verdict are set later.
func compareUnit(u string, base, cur *resultfile.File, opt Options) Delta {
	bv, cv := base.Values(u), cur.Values(u)
	thr := benchmath.DefaultThresholds
	bs := benchmath.NewSample(slices.Clone(bv), &thr)
	cs := benchmath.NewSample(slices.Clone(cv), &thr)
	d := Delta{
		Unit:        u,
		LowerBetter: lowerBetter(u, base, opt),
		Percent:     opt.Units[u].Percent,
		Base:        benchmath.AssumeNothing.Summary(bs, 0.95),
		Cur:         benchmath.AssumeNothing.Summary(cs, 0.95),
		NBase:       len(bv),
		NCur:        len(cv),
		P:           1,
	}
	// The same test benchstat runs (benchmath.AssumeNothing.Compare), called directly so
	// that its errors are values: all-equal samples mean no change.
	// The arguments in benchstat's order (old, new), so that the p-value is its to the bit;
	// U counts the baseline's wins, so the current run is larger when U is small.
	if res, err := stats.MannWhitneyUTest(bv, cv, stats.LocationDiffers); err == nil {
		d.P = res.P
		d.dir = -sign(2*res.U - float64(res.N1*res.N2))
	} else if !errors.Is(err, stats.ErrSamplesEqual) {
		d.Warnings = append(d.Warnings, fmt.Errorf("%w: %w", ErrTest, err))
	}
	if math.IsNaN(d.P) {
		d.P = 1
	}
	d.pWorse, d.pBetter = 1, 1
	if d.dir != 0 {
		half := d.P / 2
		if d.dir > 0 == d.LowerBetter {
			d.pWorse, d.pBetter = half, 1-half
		} else {
			d.pWorse, d.pBetter = 1-half, half
		}
	}
	d.Change = robust.RelChange(d.Base.Center, d.Cur.Center)
	d.ConfiguredThreshold = threshold(u, opt)
	d.NoiseFloor = max(noiseFloor(bv, d.Base.Center), levelFloor(bv, d.Base.Center, d.LowerBetter))
	d.Threshold = max(d.ConfiguredThreshold, d.NoiseFloor)
	d.MinP = MinP(d.NBase, d.NCur)
	if opt.Paired {
		pairUnit(&d, base, cur)
	}
	return d
}

// verdict applies the gate's rule to a metric whose PAdj is set.
func verdict(d *Delta, alpha float64) Verdict {
	if d.PAdj >= alpha || math.Abs(d.Change) <= d.Threshold || d.dir == 0 {
		return Unchanged
	}
	worse := d.Change > 0 == d.LowerBetter
	if worse != (d.dir > 0 == d.LowerBetter) {
		return Unchanged // the medians and the ranks disagree on the direction
	}
	if worse {
		return Regression
	}
	return Improvement
}

func lowerBetter(u string, base *resultfile.File, opt Options) bool {
	if lower, ok := base.LowerBetter[u]; ok {
		return lower
	}
	if m, ok := opt.Units[u]; ok {
		return m.LowerBetter
	}
	return true
}

func threshold(u string, opt Options) float64 {
	if m, ok := opt.Units[u]; ok {
		return m.Threshold
	}
	return cmpOr(opt.Threshold, DefaultOptions.Threshold)
}

// adjust sets every PAdj. The gate tests two one-sided families: "this metric got worse"
// and "this metric got better". A metric's one-sided p-value in the direction its ranks
// moved is P/2 (P is benchstat's two-sided p), 1-P/2 in the other; Holm's step-down method
// then runs over each family separately, so false regressions (and, separately, false
// improvements) stay below alpha per case whatever the dependence between metrics.
func (r *Report) adjust() {
	worse := make([]float64, len(r.Deltas))
	better := make([]float64, len(r.Deltas))
	for i, d := range r.Deltas {
		worse[i], better[i] = d.pWorse, d.pBetter
	}
	aw, ab := holm(worse), holm(better)
	for i := range r.Deltas {
		d := &r.Deltas[i]
		d.PAdj = aw[i]
		if d.dir != 0 && d.dir > 0 != d.LowerBetter {
			d.PAdj = ab[i]
		}
	}
}

// holm returns Holm-Bonferroni adjusted p-values: the i-th smallest of m is multiplied by
// m-i (i from 0), and the results are made monotone and capped at 1.
func holm(ps []float64) []float64 {
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

func sign(x float64) int {
	switch {
	case x > 0:
		return 1
	case x < 0:
		return -1
	}
	return 0
}

func cmpOr(v, def float64) float64 {
	if v > 0 {
		return v
	}
	return def
}

package gate

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/aclements/go-moremath/stats"

	"github.com/perfgate/perfgate/perftest/metric"
	"github.com/perfgate/perfgate/perftest/resultfile"
)

// Sequential is a group-sequential design. The comparison is looked at when the current
// run has Looks[0] repetitions, then Looks[1], ..., and the run may stop at any look; the
// last look is the most repetitions it may take. With Paired, the baseline grows with the
// current run (an A/B run: a look compares the first Looks[k] repetitions of each side);
// without, the baseline is fixed.
//
// Each metric's p-value then accounts for every look: it is the probability, with no
// change, that the smallest one-sided p-value over all planned looks is as small as the
// smallest one seen so far. The U statistics of successive looks are computed on growing
// samples, so they are correlated like a Brownian motion observed at the looks'
// information (n1 n2 / (n1 + n2)); that probability comes from its crossing probability,
// integrated numerically (Armitage, McPherson and Rowe's recursion, as in Jennison and
// Turnbull's "Group Sequential Methods", chapter 19). This is a Pocock-type design: the
// same nominal level at every look. Holm's correction across metrics then runs on these
// p-values, so false regressions stay below alpha per case over all looks together, however
// the run stops. Looks the run did not take are counted as if taken, which only makes the
// p-values larger.
//
// A look also stops at the no-change boundary (see Unsettled): when every gated metric is
// settled unchanged or judged. Looks before Least repetitions stop only there or on a
// regression: they are early looks for the common case of no change, which the rule
// "no metric beyond its threshold undecided" of the looks from Least on would stop on too
// little evidence.
type Sequential struct {
	Looks  []int
	Paired bool
	// Least is the first look at which the comparison may stop without the boundary or a
	// regression (0: every look).
	Least int
	// Stopped says why the run stopped at this look ("" while it goes on); set by the
	// caller that runs the repetitions, for the report.
	Stopped string
}

// Next returns the repetition count of the first look after n, or 0 when n is at or past
// the last look.
func (s *Sequential) Next(n int) int {
	for _, l := range s.Looks {
		if l > n {
			return l
		}
	}
	return 0
}

// String describes the design: "looks at 10, 15, 20 repetitions (stopped: ...)".
func (s *Sequential) String() string {
	var looks []string
	for _, l := range s.Looks {
		looks = append(looks, fmt.Sprint(l))
	}
	out := "sequential: looks at " + strings.Join(looks, ", ") + " repetitions"
	if s.Paired {
		out += " a side"
	}
	if s.Least > s.Looks[0] {
		out += fmt.Sprintf(" (before %d only at the no-change boundary)", s.Least)
	}
	if s.Stopped != "" {
		out += "; stopped: " + s.Stopped
	}
	return out
}

// ConfigValue is the design as the value of the config line (metric.KeyLooks) under which a
// result file records the design it was run with: "10,15,20" (fixed baseline) or
// "paired:10,15,20" (A/B), with early looks "least:10:6,10,15,20" (Least 10).
func (s *Sequential) ConfigValue() string {
	var looks []string
	for _, l := range s.Looks {
		looks = append(looks, strconv.Itoa(l))
	}
	v := strings.Join(looks, ",")
	if s.Least > s.Looks[0] {
		v = "least:" + strconv.Itoa(s.Least) + ":" + v
	}
	if s.Paired {
		v = "paired:" + v
	}
	return v
}

// MaxLooks is the most looks a design may have (perftest spaces the looks of a case so
// that it has no more), and MaxLook the most repetitions a look may take: a design read
// from a file is refused beyond them, so that a tampered looks line cannot cost seconds.
const (
	MaxLooks = 128
	MaxLook  = 1_000_000
)

// ReadSequential returns the design a result file records in its metric.KeyLooks line, nil when
// it has none, so that a comparison of the files reproduces the gate's p-values.
func ReadSequential(f *resultfile.File) (*Sequential, error) {
	v := f.ConfigValue(metric.KeyLooks)
	if v == "" {
		return nil, nil
	}
	if n := strings.Count(v, ",") + 1; n > MaxLooks {
		return nil, fmt.Errorf("%s: %s: %d looks, more than the %d a design may have", f.Path, metric.KeyLooks, n, MaxLooks)
	}
	s := &Sequential{}
	list, paired := strings.CutPrefix(v, "paired:")
	s.Paired = paired
	if rest, ok := strings.CutPrefix(list, "least:"); ok {
		least, looks, _ := strings.Cut(rest, ":")
		n, err := strconv.Atoi(least)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %q: bad least look: %w", f.Path, metric.KeyLooks, v, err)
		}
		s.Least, list = n, looks
	}
	for _, part := range strings.Split(list, ",") {
		n, err := strconv.Atoi(part)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %q is not a list of repetition counts: %w", f.Path, metric.KeyLooks, v, err)
		}
		s.Looks = append(s.Looks, n)
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %s: %w", f.Path, metric.KeyLooks, err)
	}
	return s, nil
}

// Validate checks that the looks are positive and ascending, at most MaxLooks of them and
// none beyond MaxLook.
func (s *Sequential) Validate() error {
	if len(s.Looks) == 0 {
		return errors.New("sequential design: no looks")
	}
	if len(s.Looks) > MaxLooks {
		return fmt.Errorf("sequential design: %d looks, more than %d", len(s.Looks), MaxLooks)
	}
	for i, l := range s.Looks {
		if l < 1 || l > MaxLook || i > 0 && l <= s.Looks[i-1] {
			return fmt.Errorf("sequential design: looks %v: must be positive, ascending and at most %d", s.Looks, MaxLook)
		}
	}
	if s.Least != 0 && !slices.Contains(s.Looks, s.Least) {
		return fmt.Errorf("sequential design: least %d is not one of the looks %v", s.Least, s.Looks)
	}
	return nil
}

// info is the information of each look: n1 n2 / (n1 + n2), with the current look (ncur
// repetitions, a planned look or not) among them.
func (s *Sequential) info(ncur, nbase int) []float64 {
	looks := slices.Clone(s.Looks)
	if !slices.Contains(looks, ncur) && ncur > 0 {
		looks = append(looks, ncur)
		slices.Sort(looks)
	}
	var out []float64
	for _, l := range looks {
		nb := nbase
		if s.Paired {
			nb = l
		}
		if l > 0 && nb > 0 {
			out = append(out, float64(l)*float64(nb)/float64(l+nb))
		}
	}
	return out
}

// pvalues replaces each metric's one-sided p-values by sequential ones: the smallest
// nominal p-value of the looks taken so far, mapped through the design's crossing
// probability.
func (s *Sequential) pvalues(ds []Delta, base, cur *resultfile.File) {
	ncur, nbase := len(cur.Reps), len(base.Reps)
	cross := crossing(s.info(ncur, nbase))
	var looks []int
	for _, l := range s.Looks {
		if l < ncur {
			looks = append(looks, l)
		}
	}
	looks = append(looks, ncur)
	for i := range ds {
		d := &ds[i]
		worse, better := d.pWorse, d.pBetter
		for _, l := range looks[:len(looks)-1] {
			b := base
			if s.Paired {
				b = prefix(base, l)
			}
			w, bt := lookPValues(d, b, prefix(cur, l))
			worse, better = min(worse, w), min(better, bt)
		}
		d.pWorse, d.pBetter = cross.at(worse), cross.at(better)
	}
}

// nominal is the nominal one-sided level at which a look's p-value has a sequential
// p-value of a.
func (s *Sequential) nominal(a float64, ncur, nbase int) float64 {
	return crossing(s.info(ncur, nbase)).inverse(a)
}

func prefix(f *resultfile.File, n int) *resultfile.File {
	g := *f
	g.Reps = f.Reps[:min(n, len(f.Reps))]
	return &g
}

// oneSided returns the one-sided U test p-values of "cur is worse than base" and "cur is
// better".
func oneSided(bv, cv []float64, lowerBetter bool) (worse, better float64) {
	greater, less := 1.0, 1.0
	if r, err := stats.MannWhitneyUTest(cv, bv, stats.LocationGreater); err == nil && !math.IsNaN(r.P) {
		greater = r.P
	}
	if r, err := stats.MannWhitneyUTest(cv, bv, stats.LocationLess); err == nil && !math.IsNaN(r.P) {
		less = r.P
	}
	if lowerBetter {
		return greater, less
	}
	return less, greater
}

// crossingTable maps a nominal one-sided level a to the probability that a standard
// Brownian motion, observed at the looks' information, crosses the boundary
// z(a) sqrt(info) at some look: tabulated at levels from 1e-12 to 0.5 and interpolated in
// log-log, since a design is evaluated for every metric of every comparison.
type crossingTable struct {
	logA, logP []float64
}

var (
	crossingMu    sync.Mutex
	crossingCache = map[string]*crossingTable{}
)

func crossing(info []float64) *crossingTable {
	key := fmt.Sprint(info)
	crossingMu.Lock()
	defer crossingMu.Unlock()
	if t, ok := crossingCache[key]; ok {
		return t
	}
	t := &crossingTable{}
	for la := math.Log(1e-12); la <= math.Log(0.5)+1e-9; la += math.Log(0.5/1e-12) / 64 {
		t.logA = append(t.logA, la)
		t.logP = append(t.logP, math.Log(crossProb(info, math.Exp(la))))
	}
	if len(crossingCache) > 256 {
		clear(crossingCache)
	}
	crossingCache[key] = t
	return t
}

// at is the crossing probability at level a (1 at a >= 1).
func (t *crossingTable) at(a float64) float64 {
	switch {
	case a >= 1:
		return 1
	case a <= 0:
		return 0
	}
	return min(1, math.Exp(interp(t.logA, t.logP, math.Log(a))))
}

// inverse is the level whose crossing probability is p.
func (t *crossingTable) inverse(p float64) float64 {
	if p >= 1 {
		return 1
	}
	return min(p, math.Exp(interp(t.logP, t.logA, math.Log(p))))
}

// interp interpolates y(x) linearly in the ascending xs, extrapolating with the end slopes.
func interp(xs, ys []float64, x float64) float64 {
	i, _ := slices.BinarySearch(xs, x)
	i = min(max(i, 1), len(xs)-1)
	f := (x - xs[i-1]) / (xs[i] - xs[i-1])
	return ys[i-1] + f*(ys[i]-ys[i-1])
}

var stdNormal = stats.NormalDist{Mu: 0, Sigma: 1}

// Undecided lists the metrics that more repetitions could still turn into a regression,
// with why: the median is worse by more than the threshold but not (yet) significantly, or
// no regression of the metric alone can be detected at these sample sizes (MDE none).
// Inconclusive metrics are decided: more repetitions on the same machine do not make it
// quieter.
func (r *Report) Undecided() []string {
	var out []string
	for _, d := range r.Deltas {
		if d.Figure || d.Verdict != Unchanged && d.Verdict != Undecided {
			continue
		}
		worse := d.Change > d.Threshold
		if !d.LowerBetter {
			worse = d.Change < -d.Threshold
		}
		switch {
		case worse:
			out = append(out, fmt.Sprintf("%s %s, not significant (p=%.3g)", d.Unit, fmtChange(d.Change), d.PAdj))
		case math.IsInf(d.MDE, 1):
			out = append(out, fmt.Sprintf("%s: no regression detectable at n=%d+%d", d.Unit, d.NBase, d.NCur))
		}
	}
	return out
}

// Decided reports whether more repetitions would not change the outcome: a metric
// regressed, or none is undecided.
func (r *Report) Decided() bool { return len(r.Regressions()) > 0 || len(r.Undecided()) == 0 }

// Decide applies the stopping rule after a look at n repetitions (of the current run; of
// each side when Paired): stop when a metric regressed, at the no-change boundary (every
// metric settled unchanged or judged, see Unsettled), from Least on when none is
// undecided (see Report.Undecided), or at the last look. It records why in Stopped and
// reports whether to stop; with false, run up to Next(n) and look again.
func (s *Sequential) Decide(r *Report, n int) bool {
	switch {
	case len(r.Regressions()) > 0:
		s.Stopped = fmt.Sprintf("after %d repetitions: %s regressed", n, r.Regressions()[0].Unit)
	case slices.ContainsFunc(r.Deltas, func(d Delta) bool { return !d.Figure }) && len(s.Unsettled(r)) == 0:
		s.Stopped = fmt.Sprintf("after %d repetitions: every metric within its threshold (no-change boundary)", n)
	case n < s.Least && s.Next(n) != 0:
		s.Stopped = ""
		return false
	case r.Decided():
		s.Stopped = fmt.Sprintf("after %d repetitions: decided, no metric beyond its threshold undecided", n)
	case s.Next(n) == 0:
		s.Stopped = fmt.Sprintf("after %d repetitions, the most allowed, still undecided: %s", n, strings.Join(r.Undecided(), "; "))
	default:
		s.Stopped = ""
		return false
	}
	return true
}

// CompareAsRecorded compares two result files as the run that wrote cur was judged: with
// the sequential design cur records (ReadSequential), when it records one, its Stopped
// saying what the rule concludes at cur's repetition count; at the level and threshold cur
// records (DecisionConfig) where opt leaves Alpha or Threshold 0; else as Compare does.
func CompareAsRecorded(base, cur *resultfile.File, opt Options) (*Report, error) {
	return CompareAsRecordedContext(context.Background(), base, cur, opt)
}

// CompareAsRecordedContext is CompareAsRecorded that stops when ctx is done, as
// CompareContext does, returning ctx's cause.
func CompareAsRecordedContext(ctx context.Context, base, cur *resultfile.File, opt Options) (*Report, error) {
	seq, err := ReadSequential(cur)
	if err != nil {
		return nil, err
	}
	if opt, err = recordedOptions(cur, opt); err != nil {
		return nil, err
	}
	opt.Sequential = seq
	rep, err := CompareContext(ctx, base, cur, opt)
	if err != nil {
		return nil, err
	}
	if seq != nil {
		seq.Decide(rep, len(cur.Reps))
	}
	return rep, nil
}

package history

import (
	"context"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/aclements/go-moremath/mathx"

	"github.com/perfgate/perfgate/perftest/internal/robust"
)

// Options tune DetectChanges. The zero value is ready to use.
type Options struct {
	// Alpha bounds the chance of a false change point per history, across all its metrics
	// (0: 0.05): each metric's tests run at Alpha divided by the number of metrics, and each
	// test's p-value is multiplied by the number of places its split could have been
	// (Bonferroni), since the split tested is the best of them.
	Alpha float64
	// Window is the number of entries the search looks at together (0: 50): the history is
	// searched in windows of this many entries that overlap by half, so that the cost grows
	// with the history's length, not its square.
	Window int
	// MinSegment is the fewest entries on either side of a change point (0: 5). Shorter
	// segments let noise near a real change split off as a second, spurious one.
	MinSegment int
	// MinChange drops change points whose relative change of means is smaller (0: keep all).
	MinChange float64
	// HigherBetter names the units for which a rise is an improvement; for every other unit
	// (latencies, error rates) a rise is worse.
	HigherBetter map[string]bool
}

// ChangePoint is a lasting shift in one metric of a history.
type ChangePoint struct {
	Unit string `json:"unit"`
	// Index is the first entry after the change; Commit and Time are that entry's.
	Index  int       `json:"index"`
	Commit string    `json:"commit,omitempty"`
	Time   time.Time `json:"time"`
	// Before and After are the medians of the segments either side (up to the neighbouring
	// change points), Change is After/Before - 1.
	Before float64 `json:"before"`
	After  float64 `json:"after"`
	Change float64 `json:"change"`
	// P is the p-value of Welch's t-test between the two segments, multiplied by the
	// number of places the split could have been (Bonferroni), at most 1.
	P float64 `json:"p"`
	// Worse says whether the change is in the metric's worse direction.
	Worse bool `json:"worse"`
}

// DetectChanges is DetectChangesContext without a way to stop it.
func DetectChanges(h []Entry, opt Options) []ChangePoint {
	cps, _ := DetectChangesContext(context.Background(), h, opt)
	return cps
}

// DetectChangesContext finds change points in every metric of a history, the way Apache
// Otava (formerly Hunter, MongoDB's) made E-divisive means (Matteson and James 2014)
// deterministic and fast enough for long histories (Fleming et al. 2023):
//
//   - split: the history is searched in windows of Options.Window entries overlapping by
//     half. In each window, the split of a segment that maximizes the energy distance
//     between its two sides is kept as a candidate when Welch's t-test of the sides finds
//     it significant at ten times the final level, and the search goes on inside the
//     window's segments until none is;
//   - merge: over the union of the candidates, the weakest (the largest p-value, its
//     segments reaching to its neighbours) is dropped while it is not significant at
//     Alpha, or while its change is under MinChange, recomputing its neighbours each time.
//
// Where E-divisive tested a split with hundreds of permutations of its whole segment (n²
// work each), a t-test with the p-value multiplied by the places the split could have
// been costs one step: 100,000 entries take seconds, and a history always gives the same
// answer. Unlike a comparison of two runs, it finds drifts made of several small steps and
// changes that landed between baseline updates. It returns ctx's error when ctx ends first.
func DetectChangesContext(ctx context.Context, h []Entry, opt Options) ([]ChangePoint, error) {
	if opt.Alpha <= 0 {
		opt.Alpha = 0.05
	}
	if opt.MinSegment <= 0 {
		opt.MinSegment = 5
	}
	if opt.Window <= 0 {
		opt.Window = 50
	}
	opt.Window = max(opt.Window, 4*opt.MinSegment)
	units := unitsOf(h)
	var out []ChangePoint
	for _, u := range units {
		var xs []float64
		var idx []int // entry index of each value: entries without the unit are skipped
		for i, e := range h {
			if v, ok := e.Medians[u]; ok {
				xs = append(xs, v)
				idx = append(idx, i)
			}
		}
		s := newSeries(xs, opt.MinSegment)
		weak, err := s.split(ctx, opt.Window, 10*opt.Alpha/float64(len(units)))
		if err != nil {
			return nil, err
		}
		cps, err := s.merge(ctx, weak, opt.Alpha/float64(len(units)), opt.MinChange)
		if err != nil {
			return nil, err
		}
		out = append(out, s.changePoints(h, u, idx, cps, opt.HigherBetter[u])...)
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].Index < out[b].Index })
	return out, nil
}

// unitsOf lists the units of a history's entries, sorted.
func unitsOf(h []Entry) []string {
	var units []string
	for _, e := range h {
		for u := range e.Medians {
			if !slices.Contains(units, u) {
				units = append(units, u)
			}
		}
	}
	slices.Sort(units)
	return units
}

// changePoints turns the change points of one metric's values into ChangePoints, with the
// medians of the segments either side.
func (s *series) changePoints(h []Entry, unit string, idx []int, cps []splitPoint, higherBetter bool) []ChangePoint {
	out := make([]ChangePoint, 0, len(cps))
	for k, cp := range cps {
		lo, hi := 0, len(s.x)
		if k > 0 {
			lo = cps[k-1].at
		}
		if k+1 < len(cps) {
			hi = cps[k+1].at
		}
		e := h[idx[cp.at]]
		c := ChangePoint{Unit: unit, Index: idx[cp.at], Commit: e.Commit, Time: e.Time, P: cp.p,
			Before: robust.Median(s.x[lo:cp.at]), After: robust.Median(s.x[cp.at:hi])}
		c.Change = robust.RelChange(c.Before, c.After)
		c.Worse = (c.Change > 0) != higherBetter
		out = append(out, c)
	}
	return out
}

type splitPoint struct {
	at int
	p  float64
}

// series is one metric's values with prefix sums, so that a segment's mean and variance
// cost one step.
type series struct {
	x       []float64
	minSeg  int
	sum, sq []float64 // sum[i] = x[0] + ... + x[i-1] (centred), sq the same of squares
	centre  float64
}

func newSeries(x []float64, minSeg int) *series {
	s := &series{x: x, minSeg: minSeg, sum: make([]float64, len(x)+1), sq: make([]float64, len(x)+1)}
	s.centre = robust.Median(x) // centring keeps the sums of squares exact enough
	if math.IsNaN(s.centre) {
		s.centre = 0
	}
	for i, v := range x {
		d := v - s.centre
		s.sum[i+1] = s.sum[i] + d
		s.sq[i+1] = s.sq[i] + d*d
	}
	return s
}

// test is the p-value of Welch's t-test between x[lo:at] and x[at:hi], multiplied by the
// number of places a split of x[from:to] could have been (at most 1).
func (s *series) test(lo, at, hi, from, to int) float64 {
	mean := func(a, b int) float64 { return (s.sum[b] - s.sum[a]) / float64(b-a) }
	variance := func(a, b int) float64 {
		n := float64(b - a)
		if n < 2 {
			return 0
		}
		m := mean(a, b)
		return math.Max(0, (s.sq[b]-s.sq[a]-n*m*m)/(n-1))
	}
	if at-lo < s.minSeg || hi-at < s.minSeg {
		return 1 // closer to a neighbour than MinSegment
	}
	n1, n2 := float64(at-lo), float64(hi-at)
	d := mean(at, hi) - mean(lo, at)
	v1, v2 := variance(lo, at)/n1, variance(at, hi)/n2
	p := 1.0
	switch se := math.Sqrt(v1 + v2); {
	case se == 0 && math.Abs(d) > 1e-12*(math.Abs(mean(lo, at))+math.Abs(s.centre)):
		p = 0
	case se > 0:
		t := d / se
		df := (v1 + v2) * (v1 + v2) / (v1*v1/math.Max(n1-1, 1) + v2*v2/math.Max(n2-1, 1))
		p = mathx.BetaInc(df/(df+t*t), df/2, 0.5)
	}
	places := float64(max(to-from-2*max(s.minSeg, 2)+1, 1))
	return math.Min(1, p*places)
}

// split returns the candidate change points: in each window of the values (overlapping by
// half, the next one starting at the last candidate found when that is later), the splits
// divide finds at level.
func (s *series) split(ctx context.Context, window int, level float64) ([]int, error) {
	n := len(s.x)
	var weak []int
	for start := 0; start < n; {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		end := min(start+window, n)
		next := start + window/2
		for _, at := range s.divide(start, end, level) {
			weak = append(weak, at)
			next = max(next, at)
		}
		if end == n {
			break
		}
		start = next
	}
	slices.Sort(weak)
	return slices.Compact(weak), nil
}

// divide is E-divisive within x[lo:hi]: it takes, over the segments found so far, the split
// with the largest energy statistic, keeps it while its test is under level, and returns
// the splits kept.
func (s *series) divide(lo, hi int, level float64) []int {
	bounds := []int{lo, hi}
	var found []int
	for {
		best, bestQ, seg := -1, 0.0, -1
		for i := 0; i+1 < len(bounds); i++ {
			if at, q := bestSplit(s.x[bounds[i]:bounds[i+1]], s.minSeg); at >= 0 && q > bestQ {
				best, bestQ, seg = bounds[i]+at, q, i
			}
		}
		if best < 0 || s.test(bounds[seg], best, bounds[seg+1], 0, len(s.x)) >= level {
			return found
		}
		found = append(found, best)
		bounds = slices.Insert(bounds, seg+1, best)
	}
}

// merge drops, one at a time, the weakest of the candidate change points (the largest
// p-value, between its neighbours) while it is not under level, then the one of the
// smallest relative change of means while that is under minChange, testing its neighbours
// again after each drop; what remains are the change points.
func (s *series) merge(ctx context.Context, weak []int, level, minChange float64) ([]splitPoint, error) {
	cps := make([]splitPoint, len(weak))
	bounds := func(k int) (lo, hi int) {
		lo, hi = 0, len(s.x)
		if k > 0 {
			lo = cps[k-1].at
		}
		if k+1 < len(cps) {
			hi = cps[k+1].at
		}
		return lo, hi
	}
	eval := func(k int) {
		lo, hi := bounds(k)
		cps[k].p = s.test(lo, cps[k].at, hi, 0, len(s.x))
	}
	change := func(k int) float64 {
		lo, hi := bounds(k)
		at := cps[k].at
		before := (s.sum[at]-s.sum[lo])/float64(at-lo) + s.centre
		after := (s.sum[hi]-s.sum[at])/float64(hi-at) + s.centre
		return math.Abs(robust.RelChange(before, after))
	}
	for k, at := range weak {
		cps[k].at = at
	}
	for k := range cps {
		eval(k)
	}
	for i := 0; len(cps) > 0; i++ {
		if i%256 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		worst := 0
		for k := range cps {
			if cps[k].p > cps[worst].p {
				worst = k
			}
		}
		if cps[worst].p < level {
			if minChange <= 0 {
				break
			}
			for k := range cps {
				if change(k) < change(worst) {
					worst = k
				}
			}
			if change(worst) >= minChange {
				break
			}
		}
		cps = slices.Delete(cps, worst, worst+1)
		if worst > 0 {
			eval(worst - 1)
		}
		if worst < len(cps) {
			eval(worst)
		}
	}
	return cps, nil
}

// bestSplit returns the split t (minSeg <= t <= n-minSeg) of x maximizing the E-divisive
// statistic Q(t) = t(n-t)/n * (2 mean|a-b| - mean|a-a'| - mean|b-b'|), with a from x[:t] and
// b from x[t:], or -1 when x is too short to split. It runs in O(n^2): x is one window.
func bestSplit(x []float64, minSeg int) (int, float64) {
	n := len(x)
	if n < 2*minSeg || minSeg < 2 && n < 4 {
		return -1, 0
	}
	// within[t] = sum over pairs inside x[:t]; tail[t] = sum over pairs inside x[t:].
	within := make([]float64, n+1)
	for t := 1; t <= n; t++ {
		s := 0.0
		for i := range t - 1 {
			s += math.Abs(x[i] - x[t-1])
		}
		within[t] = within[t-1] + s
	}
	tail := make([]float64, n+1)
	for t := n - 1; t >= 0; t-- {
		s := 0.0
		for j := t + 1; j < n; j++ {
			s += math.Abs(x[j] - x[t])
		}
		tail[t] = tail[t+1] + s
	}
	total := within[n]
	best, bestQ := -1, math.Inf(-1)
	lo := max(minSeg, 2)
	for t := lo; t <= n-lo; t++ {
		a, b := float64(t), float64(n-t)
		between := total - within[t] - tail[t]
		q := a * b / float64(n) * (2*between/(a*b) - within[t]/(a*(a-1)/2) - tail[t]/(b*(b-1)/2))
		if q > bestQ {
			best, bestQ = t, q
		}
	}
	return best, bestQ
}

package history

import (
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"time"

	"github.com/perfgate/perfgate/perftest/internal/robust"
)

// Options tune DetectChanges. The zero value is ready to use.
type Options struct {
	// Alpha bounds the chance of a false change point per history, across all its metrics
	// (0: 0.05): each metric's permutation tests run at Alpha divided by the number of
	// metrics (Bonferroni).
	Alpha float64
	// Permutations is the number of shuffles per permutation test (0: 999).
	Permutations int
	// MinSegment is the fewest entries on either side of a change point (0: 5). Shorter
	// segments let noise near a real change split off as a second, spurious one.
	MinSegment int
	// MinChange drops change points whose relative change of medians is smaller (0: keep all).
	MinChange float64
	// Seed seeds the permutations, so a history always gives the same answer.
	Seed uint64
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
	// P is the permutation test's p-value for the split.
	P float64 `json:"p"`
	// Worse says whether the change is in the metric's worse direction.
	Worse bool `json:"worse"`
}

// DetectChanges finds change points in every metric of a history with E-divisive means
// (Matteson and James 2014, the method of MongoDB's and Hunter's performance CI): the
// split of a segment maximizing the energy distance between its two sides is kept when a
// permutation test finds it significant, and the search recurses into the segments until
// no significant split remains. Unlike a comparison of two runs, it finds drifts made of
// many small steps and changes that landed between baseline updates.
func DetectChanges(h []Entry, opt Options) []ChangePoint {
	if opt.Alpha <= 0 {
		opt.Alpha = 0.05
	}
	if opt.Permutations <= 0 {
		opt.Permutations = 999
	}
	if opt.MinSegment <= 0 {
		opt.MinSegment = 5
	}
	var units []string
	for _, e := range h {
		for u := range e.Medians {
			if !slices.Contains(units, u) {
				units = append(units, u)
			}
		}
	}
	slices.Sort(units)
	var out []ChangePoint
	for ui, u := range units {
		var xs []float64
		var idx []int // entry index of each value: entries without the unit are skipped
		for i, e := range h {
			if v, ok := e.Medians[u]; ok {
				xs = append(xs, v)
				idx = append(idx, i)
			}
		}
		rng := rand.New(rand.NewPCG(opt.Seed, uint64(ui)))
		cps := eDivisive(xs, opt.MinSegment, opt.Permutations, opt.Alpha/float64(len(units)), rng)
		bounds := []int{0}
		for _, cp := range cps {
			bounds = append(bounds, cp.at)
		}
		bounds = append(bounds, len(xs))
		for k, cp := range cps {
			seg := func(a, b int) float64 { return robust.Median(xs[a:b]) }
			c := ChangePoint{Unit: u, Index: idx[cp.at], Commit: h[idx[cp.at]].Commit, Time: h[idx[cp.at]].Time, P: cp.p,
				Before: seg(bounds[k], cp.at), After: seg(cp.at, bounds[k+2])}
			c.Change = robust.RelChange(c.Before, c.After)
			c.Worse = (c.Change > 0) != opt.HigherBetter[u]
			if math.Abs(c.Change) >= opt.MinChange {
				out = append(out, c)
			}
		}
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].Index < out[b].Index })
	return out
}

type splitPoint struct {
	at int
	p  float64
}

// eDivisive returns the significant change points of xs in increasing order. At each step
// it takes, over all current segments, the split with the largest energy statistic, and
// stops at the first that a permutation test does not find significant at alpha.
func eDivisive(xs []float64, minSeg, perms int, alpha float64, rng *rand.Rand) []splitPoint {
	var cps []splitPoint
	bounds := []int{0, len(xs)}
	scratch := make([]float64, len(xs))
	for {
		best, bestQ, bestSeg := -1, 0.0, -1
		for s := 0; s+1 < len(bounds); s++ {
			at, q := bestSplit(xs[bounds[s]:bounds[s+1]], minSeg)
			if at >= 0 && q > bestQ {
				best, bestQ, bestSeg = bounds[s]+at, q, s
			}
		}
		if best < 0 {
			break
		}
		// Permutation test: shuffle the segment and see how often a split as strong appears.
		seg := xs[bounds[bestSeg]:bounds[bestSeg+1]]
		perm := scratch[:len(seg)]
		copy(perm, seg)
		exceed := 0
		for range perms {
			rng.Shuffle(len(perm), func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
			if _, q := bestSplit(perm, minSeg); q >= bestQ {
				exceed++
			}
		}
		p := float64(exceed+1) / float64(perms+1)
		if p >= alpha {
			break
		}
		cps = append(cps, splitPoint{best, p})
		bounds = append(bounds, best)
		slices.Sort(bounds)
	}
	slices.SortFunc(cps, func(a, b splitPoint) int { return a.at - b.at })
	return cps
}

// bestSplit returns the split t (minSeg <= t <= n-minSeg) of x maximizing the E-divisive
// statistic Q(t) = t(n-t)/n * (2 mean|a-b| - mean|a-a'| - mean|b-b'|), with a from x[:t] and
// b from x[t:], or -1 when x is too short to split. It runs in O(n^2).
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

package perftest

import (
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"

	"github.com/aclements/go-moremath/stats"
)

// The minimum detectable effect (MDE) of a metric is the smallest relative regression that
// Compare would call a REGRESSION with probability mdePower, given:
//
//   - the sample sizes n1 (baseline) and n2 (current),
//   - the run-to-run spread, estimated robustly from both samples: sigma = 1.4826 x the
//     median absolute deviation of every value from its own sample's median, relative to
//     the baseline median, divided by the estimator's mean at these sizes under normal
//     noise (deviations from a sample's own median run small in small samples),
//   - Holm's correction for a metric regressing alone: its one-sided p-value must be
//     below alpha/m for m metrics (when several metrics move together Holm is less strict,
//     so this is the conservative case),
//   - the verdict's other condition: the observed change of the medians must exceed the
//     metric's Threshold.
//
// It is computed by Monte Carlo under a location-shift model with normal noise of that
// sigma: mdeTrials pairs of standard normal samples (n1 and n2 values, seeded by the sizes,
// so every run gives the same figures) are drawn once per (n1, n2, alpha/m) and cached. For
// each pair the exact smallest shift that makes the U test significant is the
// (u+1)-th largest pairwise difference base_i - cur_j, where u is the largest U statistic
// whose exact one-sided p-value CDF(u) is below alpha/m; the shift must also lift the
// median difference above Threshold/sigma. The MDE is the mdePower quantile of the larger
// of the two shifts over all pairs, times sigma. It is +Inf when no shift can reach
// significance (too few repetitions), NaN when the baseline median is zero.
const mdeTrials = 2000

type mdeKey struct {
	n1, n2 int
	alpha  float64
}

// mdeSim holds, per simulated pair, the smallest significant shift (sigma units) and the
// pair's unshifted median difference (current - baseline, sigma units).
type mdeSim struct {
	sigShift, medDiff []float64
	never             bool
	// sigmaScale is the mean of robustSigma over the simulated pairs (true sigma 1): the
	// estimator's small-sample bias, divided out of the sigma measured on real samples.
	sigmaScale float64
}

var mdeCache sync.Map // mdeKey -> *mdeSim

func mdeFor(d *Delta, base, cur []float64, alpha float64) float64 {
	if d.Base.Center == 0 {
		return math.NaN()
	}
	sim := simulateMDE(d.NBase, d.NCur, alpha)
	if sim.never {
		return math.Inf(1)
	}
	sigma := robustSigma(base, cur) / sim.sigmaScale / math.Abs(d.Base.Center)
	if sigma == 0 {
		return d.Threshold
	}
	r := d.Threshold / sigma
	need := make([]float64, len(sim.sigShift))
	for k := range need {
		need[k] = max(sim.sigShift[k], r-sim.medDiff[k])
	}
	slices.Sort(need)
	return need[int(math.Ceil(mdePower*float64(len(need))))-1] * sigma
}

// robustSigma is 1.4826 x the median absolute deviation of the values from their own
// sample's median: a standard deviation estimate that one outlying repetition cannot move.
func robustSigma(samples ...[]float64) float64 {
	var dev []float64
	for _, s := range samples {
		if len(s) == 0 {
			continue
		}
		m := median(s)
		for _, v := range s {
			dev = append(dev, math.Abs(v-m))
		}
	}
	if len(dev) == 0 {
		return 0
	}
	return 1.4826 * median(dev)
}

// median is the middle of xs (the mean of the two middle values for an even count); NaN
// for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// uCritical is the largest U statistic whose exact two-sided p-value (no ties) is below
// alpha, or -1 when even full separation is not significant.
func uCritical(n1, n2 int, alpha float64) int {
	if 2*minP(n1, n2) >= alpha {
		return -1
	}
	if n1 > 50 || n2 > 50 {
		// Normal approximation, as stats.MannWhitneyUTest uses at these sizes.
		mu := float64(n1*n2) / 2
		sd := math.Sqrt(float64(n1*n2*(n1+n2+1)) / 12)
		z := stats.NormalDist{Mu: 0, Sigma: 1}.InvCDF(alpha / 2)
		return max(-1, int(math.Floor(mu+z*sd-0.5)))
	}
	dist := stats.UDist{N1: n1, N2: n2}
	u := -1
	for 2*dist.CDF(float64(u+1)) < alpha {
		u++
	}
	return u
}

func simulateMDE(n1, n2 int, alpha float64) *mdeSim {
	key := mdeKey{n1, n2, alpha}
	if v, ok := mdeCache.Load(key); ok {
		return v.(*mdeSim)
	}
	sim := &mdeSim{}
	u := uCritical(n1, n2, alpha)
	if u < 0 {
		sim.never = true
	} else {
		rng := rand.New(rand.NewPCG(uint64(n1)<<32|uint64(n2), 0x6d6465))
		b, c := make([]float64, n1), make([]float64, n2)
		diffs := make([]float64, n1*n2)
		// Large samples: fewer trials, so that the simulation stays under about 2x10^6
		// pairwise differences.
		trials := max(200, min(mdeTrials, 2_000_000/(n1*n2)))
		sim.sigShift = make([]float64, trials)
		sim.medDiff = make([]float64, trials)
		for k := range trials {
			for i := range b {
				b[i] = rng.NormFloat64()
			}
			for j := range c {
				c[j] = rng.NormFloat64()
			}
			for i := range b {
				for j := range c {
					diffs[i*n2+j] = b[i] - c[j]
				}
			}
			// With the current sample shifted up by s, U (pairs where current is below
			// baseline) counts the differences above s; significance needs at most u of
			// them, so s must reach the (u+1)-th largest difference.
			sort.Sort(sort.Reverse(sort.Float64Slice(diffs)))
			sim.sigShift[k] = max(0, diffs[u])
			sim.medDiff[k] = median(c) - median(b)
			sim.sigmaScale += robustSigma(b, c) / float64(trials)
		}
	}
	v, _ := mdeCache.LoadOrStore(key, sim)
	return v.(*mdeSim)
}

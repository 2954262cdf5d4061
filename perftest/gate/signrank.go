package gate

import (
	"math"
	"slices"
	"sort"
)

// exactPairs is the most nonzero pairs whose signed-rank distribution is enumerated
// exactly; beyond, the normal approximation with tie and continuity corrections.
const exactPairs = 50

// signedRank is the Wilcoxon signed-rank test of the differences d against a median of 0
// (as Chromium Pinpoint's pairwise mode and R's wilcox.test(paired = TRUE) run it): zeros
// are dropped, the absolute values ranked (ties get their mid-rank), and V is the sum of
// the ranks of the positive differences. It returns the one-sided p-values P(V >= v), that
// the differences are above 0, and P(V <= v), below. Up to exactPairs nonzero differences
// the p-values are exact: the distribution of V given the ranks (ties included) over the
// 2^n equally likely signs. With no nonzero difference both are 1.
func signedRank(d []float64) (greater, less float64) {
	var nz []float64
	for _, x := range d {
		if x != 0 && !math.IsNaN(x) {
			nz = append(nz, x)
		}
	}
	n := len(nz)
	if n == 0 {
		return 1, 1
	}
	ranks2, ties := doubledRanks(nz)
	v2 := 0 // 2 V
	for i, x := range nz {
		if x > 0 {
			v2 += ranks2[i]
		}
	}
	if n <= exactPairs {
		dist := signDist(ranks2)
		for s, p := range dist {
			if s >= v2 {
				greater += p
			}
			if s <= v2 {
				less += p
			}
		}
		return min(1, greater), min(1, less)
	}
	nf := float64(n)
	mean := nf * (nf + 1) / 4
	sd := math.Sqrt(nf*(nf+1)*(2*nf+1)/24 - ties/48)
	if sd == 0 {
		return 1, 1
	}
	v := float64(v2) / 2
	return 1 - stdNormal.CDF((v-mean-0.5)/sd), stdNormal.CDF((v - mean + 0.5) / sd)
}

// doubledRanks returns twice the mid-rank of each |x| (an integer) and the tie term
// sum(t^3 - t) over groups of t tied values.
func doubledRanks(x []float64) (ranks2 []int, ties float64) {
	idx := make([]int, len(x))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return math.Abs(x[idx[a]]) < math.Abs(x[idx[b]]) })
	ranks2 = make([]int, len(x))
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && math.Abs(x[idx[j+1]]) == math.Abs(x[idx[i]]) {
			j++
		}
		for k := i; k <= j; k++ {
			ranks2[idx[k]] = i + j + 2 // (i+1 + j+1), twice the mid-rank
		}
		t := float64(j - i + 1)
		ties += t*t*t - t
		i = j + 1
	}
	return ranks2, ties
}

// signDist is the distribution of the sum of ranks2 over a random subset (each rank in it
// with probability 1/2): dist[s] is the probability that the sum is s.
func signDist(ranks2 []int) []float64 {
	total := 0
	for _, r := range ranks2 {
		total += r
	}
	dist := make([]float64, total+1)
	dist[0] = 1
	hi := 0
	for _, r := range ranks2 {
		for s := hi; s >= 0; s-- {
			if dist[s] != 0 {
				dist[s+r] += dist[s] / 2
				dist[s] /= 2
			}
		}
		hi += r
	}
	return dist
}

// maxWalsh is the most differences whose Walsh averages are enumerated (n(n+1)/2 of them);
// beyond, the Hodges-Lehmann estimate falls back to the median of the differences with
// the sign test's interval, so that a file of a million repetitions costs no more.
const maxWalsh = 2000

// hodgesLehmann returns the Hodges-Lehmann estimate of the median of the differences, the
// median of the Walsh averages (d_i + d_j)/2, i <= j, with its 95% confidence interval:
// the k-th smallest and k-th largest Walsh averages, k from the signed-rank distribution
// with no ties (exact up to exactPairs differences, normal beyond), as R's
// wilcox.test(conf.int = TRUE) takes them. With no differences all three are 0.
func hodgesLehmann(d []float64) (est, lo, hi float64) {
	return walshInterval(d, 0.025)
}

// walshInterval is hodgesLehmann with the interval's ends taken at one-sided level q each:
// lo is a (1-q) lower confidence bound of the median difference, hi an upper one.
func walshInterval(d []float64, q float64) (est, lo, hi float64) {
	n := len(d)
	if n == 0 {
		return 0, 0, 0
	}
	if n > maxWalsh {
		s := slices.Sorted(slices.Values(d))
		k := max(0, int(math.Floor(float64(n)/2-stdNormal.InvCDF(1-q)*math.Sqrt(float64(n))/2)))
		return median(s), s[k], s[n-1-k]
	}
	w := make([]float64, 0, n*(n+1)/2)
	for i := range d {
		for j := i; j < n; j++ {
			w = append(w, (d[i]+d[j])/2)
		}
	}
	slices.Sort(w)
	k := walshRank(n, q)
	return median(w), w[k-1], w[len(w)-k]
}

// walshRank is the rank k (1-based, at least 1) of the lower end of the Walsh averages'
// two-sided interval at level 1-2q, taken as R's qsignrank(q, n): the smallest v with
// P(V <= v) >= q, raised to 1 when 0.
func walshRank(n int, q float64) int {
	var k int
	if n <= exactPairs {
		ranks2 := make([]int, n)
		for i := range ranks2 {
			ranks2[i] = 2 * (i + 1)
		}
		cum := 0.0
		for s, p := range signDist(ranks2) {
			cum += p
			if cum >= q-1e-12 {
				k = s / 2
				break
			}
		}
	} else {
		nf := float64(n)
		k = int(math.Floor(nf*(nf+1)/4 - stdNormal.InvCDF(1-q)*math.Sqrt(nf*(nf+1)*(2*nf+1)/24)))
	}
	return max(1, k)
}

func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

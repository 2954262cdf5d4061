package gate

import (
	"math"
	"slices"

	"github.com/perfgate/perfgate/perftest/internal/robust"
)

// noiseFloor is the relative resolution of the baseline's median: the half-width of a 95%
// confidence interval for it, 1.96 x 1.2533 x sigma / sqrt(n), with sigma the baseline's
// robust standard deviation and 1.2533 = sqrt(pi/2) the standard error of a median in units
// of sigma/sqrt(n). A threshold below it would act on changes smaller than the uncertainty
// of the baseline itself.
func noiseFloor(base []float64, centre float64) float64 {
	if centre == 0 || len(base) == 0 {
		return 0
	}
	return 1.96 * math.Sqrt(math.Pi/2) * robust.Sigma(base) / math.Sqrt(float64(len(base))) / math.Abs(centre)
}

// levelFloor is the noise floor of a baseline whose values come in levels: a count, a KV
// usage counted in blocks, or a latency set by scheduler steps or stalls of one size or
// another. Its median can move by a whole level between runs of the same code, as the
// level the repetitions land on shifts with the machine's timing, where the normal model
// of noiseFloor sees only the small spread within a level (none at all when most
// repetitions share a value). The floor is then the relative distance from the median to
// the far edge of the level that holds the baseline's 90th percentile in the worse
// direction: a level the baseline itself reached in a tenth of its repetitions is not a
// regression.
//
// Seen on this project's cases: examples/workloads PerfAgent's peak KV usage is 13.5m in 19
// of 30 baseline repetitions and 16.9-17.0m in 11, and an unchanged run read 17.0m in all
// 30 (+25.8%); the container case's itl-p99 is 37.4-38.9 ms in 12 of 30 repetitions and
// 46.7-48.1 ms in 13, and an unchanged CI run landed on the upper level (47.4 ms, +22.6%).
//
// A baseline comes in levels when, from 10 repetitions on, its values fall in at most n/3
// runs (see levels), of which at least two are levels that hold a tenth of its
// repetitions, and three or more, each. 0 for other baselines.
func levelFloor(base []float64, centre float64, lowerBetter bool) float64 {
	n := len(base)
	if centre == 0 || n < 10 {
		return 0
	}
	lv, dense := levels(slices.Sorted(slices.Values(base)))
	big := 0
	for i, l := range lv {
		if dense[i] && 10*len(l) >= n && len(l) >= 3 {
			big++
		}
	}
	if big < 2 || len(lv) > n/3 {
		return 0
	}
	q := int(math.Ceil(0.9*float64(n))) - 1 // the 90th percentile, an observed value
	if !lowerBetter {
		q = n - 1 - q // the 10th
	}
	for i, l := range lv {
		if q >= len(l) {
			q -= len(l)
			continue
		}
		edge := l[q] // in a sparse run, the percentile itself
		switch {
		case dense[i] && lowerBetter:
			edge = l[len(l)-1]
		case dense[i]:
			edge = l[0]
		}
		return math.Abs(robust.RelChange(centre, edge))
	}
	return 0
}

// levels splits sorted values into runs of neighbours and says which runs are dense. A
// run ends where two neighbours are further apart than twenty times the median spacing of
// all the values; it is dense (a level) when the median spacing within it is at most five
// times that, so that a sparse tail of slow repetitions is no level. Spacings are ratios
// where every value is positive, since latencies spread by factors; where most neighbours
// are equal (counts), any distance ends a run. Values from one continuous distribution
// rarely make two levels of a tenth each: in 2,000 draws each of 10, 20 and 30 normal or
// log-normal values, at most 4 (0.2%) did (TestLevelsOfContinuousValues).
func levels(s []float64) (runs [][]float64, dense []bool) {
	if len(s) < 2 {
		return [][]float64{s}, []bool{true}
	}
	gaps := make([]float64, len(s)-1)
	for i := range gaps {
		gaps[i] = s[i+1] - s[i]
		if s[0] > 0 {
			gaps[i] = math.Log(s[i+1] / s[i])
		}
	}
	typical := median(slices.Sorted(slices.Values(gaps)))
	start := 0
	for i := 0; i <= len(gaps); i++ {
		if i < len(gaps) && gaps[i] <= 20*typical {
			continue
		}
		runs = append(runs, s[start:i+1]) // its spacings are gaps[start:i]
		dense = append(dense, i == start || median(slices.Sorted(slices.Values(gaps[start:i]))) <= 5*typical)
		start = i + 1
	}
	return runs, dense
}

// Package robust holds the estimators that one outlying repetition cannot move (the median
// and a standard deviation from the median absolute deviation) and the relative change
// perfgate reports. The gate, the history and the reports share them, so that every figure
// perfgate prints is computed the same way.
package robust

import (
	"math"
	"slices"
)

// Median is the middle of xs (the mean of the two middle values for an even count); NaN for
// none. xs is not modified.
func Median(xs []float64) float64 {
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

// Sigma is 1.4826 x the median absolute deviation of the values from their own sample's
// median, pooled over the samples: a standard deviation estimate (exact for normal noise in
// large samples) that one outlying repetition cannot move. 0 for no values.
func Sigma(samples ...[]float64) float64 {
	var dev []float64
	for _, s := range samples {
		if len(s) == 0 {
			continue
		}
		m := Median(s)
		for _, v := range s {
			dev = append(dev, math.Abs(v-m))
		}
	}
	if len(dev) == 0 {
		return 0
	}
	return 1.4826 * Median(dev)
}

// RelChange is after/before - 1: 0 when they are equal, ±Inf from a zero before.
func RelChange(before, after float64) float64 {
	switch {
	case before == after:
		return 0
	case before == 0:
		return math.Copysign(math.Inf(1), after)
	}
	return after/before - 1
}

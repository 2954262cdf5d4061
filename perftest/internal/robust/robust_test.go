package robust

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestMedian(t *testing.T) {
	assert.True(t, math.IsNaN(Median(nil)))
	xs := []float64{3, 1, 2}
	assert.Equal(t, 2.0, Median(xs))
	assert.Equal(t, []float64{3, 1, 2}, xs, "input not sorted in place")
	assert.Equal(t, 2.5, Median([]float64{4, 1, 2, 3}))
}

func TestSigma(t *testing.T) {
	assert.Zero(t, Sigma())
	// |x - 3| = 2 1 0 1 2: MAD 1.
	assert.InDelta(t, 1.4826, Sigma([]float64{1, 2, 3, 4, 5}), 1e-12)
	// One wild value does not move it.
	assert.InDelta(t, 1.4826, Sigma([]float64{1, 2, 3, 4, 500}), 1e-12)
	// Pooled: each sample's deviations from its own median.
	assert.InDelta(t, 1.4826, Sigma([]float64{1, 2, 3}, []float64{11, 12, 13}), 1e-12)
}

package perftest

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"golang.org/x/perf/benchmath"
)

func TestUCritical(t *testing.T) {
	// 10 a side, one-sided alpha 0.05/15 (two-sided 2*0.05/15): the exact U distribution
	// gives P(U <= 14) = 0.00260 < 0.00333 < P(U <= 15) = 0.00342.
	assert.Equal(t, 14, uCritical(10, 10, 2*0.05/15))
	// 4 a side, one-sided 0.05: P(U <= 1) = 2/70 < 0.05 < P(U <= 2) = 4/70.
	assert.Equal(t, 1, uCritical(4, 4, 2*0.05))
	assert.Equal(t, -1, uCritical(3, 3, 2*0.05), "1/20 is not below 0.05")
	assert.InDelta(t, 1.0/70, minP(4, 4), 1e-15)
}

func TestMDELargeSamples(t *testing.T) {
	// Beyond the exact test's range the normal approximation and fewer trials keep it cheap.
	sim := simulateMDE(60, 60, 0.01)
	assert.False(t, sim.never)
	assert.GreaterOrEqual(t, len(sim.sigShift), 200)
	d := &Delta{Base: benchmath.Summary{Center: 1}, NBase: 60, NCur: 60, Threshold: 0}
	base := make([]float64, 60)
	for i := range base {
		base[i] = 1 + 0.03*math.Sin(float64(i))
	}
	mde := mdeFor(d, base, base, 0.01)
	assert.Greater(t, mde, 0.0)
	assert.Less(t, mde, 0.03, "60 a side resolve well under the noise")
}

package gate

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/perftest/metric"
	"github.com/perfgate/perfgate/perftest/resultfile"
)

// schedule is the information of looks at counts from, from+step, ..., to against a fixed
// baseline of nbase repetitions (0: paired, both sides growing).
func schedule(from, step, to, nbase int) []float64 {
	s := &Sequential{Paired: nbase == 0}
	for l := from; l <= to; l += step {
		s.Looks = append(s.Looks, l)
	}
	return s.info(to, nbase)
}

// simulateCrossing estimates crossProb by simulating the Brownian motion at the looks.
func simulateCrossing(rng *rand.Rand, info []float64, a float64, trials int) float64 {
	c := -stdNormal.InvCDF(a)
	hits := 0
	for range trials {
		w, prev := 0.0, 0.0
		for _, ti := range info {
			w += math.Sqrt(ti-prev) * rng.NormFloat64()
			prev = ti
			if w >= c*math.Sqrt(ti) {
				hits++
				break
			}
		}
	}
	return float64(hits) / float64(trials)
}

// Issue 22: looks every 5 from 10 to 600 made crossProb 1 for any input, and count 4 to 200
// gave a value above the Bonferroni bound. Every schedule a user can ask for stays between
// the first look alone and the Bonferroni bound, and within the simulation's error.
func TestCrossProbManyLooks(t *testing.T) {
	rng := rand.New(rand.NewPCG(22, 1))
	for _, tc := range []struct {
		name string
		info []float64
	}{
		{"every 5 from 10 to 600, fixed baseline of 600", schedule(10, 5, 600, 600)},
		{"every 5 from 10 to 600, paired", schedule(10, 5, 600, 0)},
		{"every 2 from 4 to 200, fixed baseline of 200", schedule(4, 2, 200, 200)},
		{"every 1 from 3 to 130, fixed baseline of 30", schedule(3, 1, 130, 30)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := float64(len(tc.info))
			for _, a := range []float64{1e-6, 1e-4, 0.0005 / k, 0.05 / k} {
				start := time.Now()
				p := crossProb(tc.info, a)
				el := time.Since(start)
				assert.Less(t, p, 1.0, "a=%g", a)
				assert.LessOrEqual(t, p, k*a, "never above the Bonferroni bound, a=%g", a)
				assert.GreaterOrEqual(t, p, a, "a=%g", a)
				t.Logf("%d looks, a=%.3g: %.4g (Bonferroni %.4g), %v", len(tc.info), a, p, k*a, el)
			}
			a := 0.02 / k
			sim := simulateCrossing(rng, tc.info, a, 100000)
			got := crossProb(tc.info, a)
			se := math.Sqrt(sim * (1 - sim) / 100000)
			t.Logf("a=%.3g: integrated %.5f, simulated %.5f", a, got, sim)
			assert.InDelta(t, sim, got, 4*se+0.02*sim)
		})
	}
}

// Schedules of 2 to 100 looks, evenly and unevenly spaced: the integrated crossing
// probability agrees with a simulation of the Brownian motion (4 standard errors, and 2%
// for the grid), and never exceeds the Bonferroni bound.
func TestCrossProbAgainstSimulation(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates 20 schedules")
	}
	rng := rand.New(rand.NewPCG(22, 2))
	for _, k := range []int{2, 3, 5, 8, 13, 21, 34, 55, 80, 100} {
		for _, uneven := range []bool{false, true} {
			info := make([]float64, k)
			x := 0.0
			for i := range info {
				step := 1.0
				if uneven {
					step = 0.2 + 3*rng.Float64()
				}
				x += step
				info[i] = x
			}
			a := 0.01 / math.Sqrt(float64(k))
			got := crossProb(info, a)
			assert.LessOrEqual(t, got, float64(k)*a)
			sim := simulateCrossing(rng, info, a, 60000)
			se := math.Sqrt(sim * (1 - sim) / 60000)
			assert.InDelta(t, sim, got, 4*se+0.02*sim, fmt.Sprintf("%d looks, uneven %v", k, uneven))
		}
	}
}

// A looks line read from a file is bounded (issue 22: a tampered line of 390 looks cost
// 12 s of CPU): more than MaxLooks looks, or a look beyond MaxLook, is refused by name.
func TestReadSequentialBounded(t *testing.T) {
	f := &resultfile.File{Path: "cur.txt"}
	set := func(v string) { f.Config = []resultfile.KV{{Key: metric.KeyLooks, Value: v}} }
	var looks []string
	for l := 1; l <= 390; l++ {
		looks = append(looks, strconv.Itoa(l))
	}
	set(strings.Join(looks, ","))
	_, err := ReadSequential(f)
	assert.EqualError(t, err, "cur.txt: looks: 390 looks, more than the 128 a design may have")
	set(strings.Join(looks[:128], ","))
	s, err := ReadSequential(f)
	require.NoError(t, err)
	assert.Len(t, s.Looks, 128)
	set("10,2000000")
	_, err = ReadSequential(f)
	assert.ErrorContains(t, err, "cur.txt: looks: sequential design: looks [10 2000000]: must be positive, ascending and at most 1000000")
}

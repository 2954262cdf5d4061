package plot

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/perftest"
	"github.com/perfgate/perfgate/perftest/resultfile"
)

func point(load string, tok, ttft, itl float64) *perftest.Result {
	r := &perftest.Result{Name: "P/" + load, Config: []resultfile.KV{{Key: "load", Value: load}}}
	for range 2 {
		r.Reps = append(r.Reps, perftest.Repetition{Metrics: []resultfile.Metric{
			{Unit: "tok/s", Value: tok}, {Unit: "ttft-p50-sec", Value: ttft}, {Unit: "itl-p50-sec", Value: itl}}})
	}
	return r
}

func TestSweep(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out", "P.sweep.png")
	results := []*perftest.Result{point("concurrency=1", 100, 0.02, 0.005), nil, point("concurrency=64", 3000, 0.2, 0.02)}
	require.NoError(t, Sweep(path, results))
	png, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "\x89PNG", string(png[:4]))
	assert.Greater(t, len(png), 10000, "a drawn plot, not an empty image")
}

func TestSweepNeedsPoints(t *testing.T) {
	assert.ErrorContains(t, Sweep(filepath.Join(t.TempDir(), "x.png"), []*perftest.Result{nil}), "no finished points")
}

func TestPanels(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.png")
	x := []float64{0.1, 0.5, 0.9}
	require.NoError(t, Panels(path,
		Panel{Title: "TTFT", X: "prefix ratio", Y: "ms", LogY: true, Curves: []Curve{
			{Name: "kv", X: x, Y: []float64{100, 60, 20}}, {Name: "round-robin", X: x, Y: []float64{101, 90, math.NaN()}}}},
		Panel{Title: "fit", X: "ISL", Y: "ms", Curves: []Curve{
			{Name: "measured", X: x, Y: []float64{1, 2, 3}, Points: true}, {Name: "fit", X: x, Y: []float64{1.1, 2, 2.9}, Smooth: true}}}))
	png, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "\x89PNG", string(png[:4]))
	assert.Greater(t, len(png), 10000)
	assert.ErrorContains(t, Panels(path), "no panels")
	assert.ErrorContains(t, Panels(path, Panel{Curves: []Curve{{X: x, Y: x[:1]}}}), "3 x values, 1 y values")
	assert.ErrorContains(t, Panels(path, Panel{Title: "empty", LogY: true, Curves: []Curve{{X: x, Y: []float64{0, 0, 0}}}}), "no points")
}

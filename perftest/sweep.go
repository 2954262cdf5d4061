package perftest

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// DefaultConcurrencies is the concurrency list of Dynamo's benchmark sweeps.
var DefaultConcurrencies = []int{1, 2, 5, 10, 50, 100, 250}

// ConcurrencySweep returns closed-loop loads for the given concurrencies
// (DefaultConcurrencies when none are given).
func ConcurrencySweep(ns ...int) []Load {
	if len(ns) == 0 {
		ns = DefaultConcurrencies
	}
	loads := make([]Load, len(ns))
	for i, n := range ns {
		loads[i] = Concurrency(n)
	}
	return loads
}

// RateSweep returns open-loop Poisson loads for the given rates.
func RateSweep(rates ...float64) []Load {
	loads := make([]Load, len(rates))
	for i, r := range rates {
		loads[i] = PoissonRate(r)
	}
	return loads
}

// Sweep runs the case once per load, each as a subtest named by its load, and returns the
// results in the loads' order (nil for a point that did not finish). A point's result is
// named CASE/LOAD (e.g. PerfChat/concurrency=16), so -perf.out writes one file per point
// and benchstat reads the load as a sub-benchmark key. With -perf.out a plot of
// throughput and latency against load is written there too (CASE.sweep.png).
func Sweep(t *testing.T, c Case, loads ...Load) []*Result {
	t.Helper()
	if len(loads) == 0 {
		t.Fatal("perftest: Sweep needs at least one load (e.g. perftest.ConcurrencySweep())")
	}
	base := c.Name
	if base == "" {
		base = strings.TrimPrefix(t.Name(), "Test")
	}
	results := make([]*Result, len(loads))
	for i, l := range loads {
		t.Run(configValue(l.String()), func(t *testing.T) {
			p := c
			p.Load = l
			p.Name = base + "/" + l.String()
			results[i] = Run(t, p)
		})
	}
	if *flagOut != "" {
		path := filepath.Join(*flagOut, fileName(base)+".sweep.png")
		if err := PlotSweep(path, results); err != nil {
			t.Errorf("perftest: %v", err)
		} else {
			t.Logf("sweep plot: %s", path)
		}
	}
	return results
}

// sweepX is a point's position on the load axis: its concurrency or rate.
func sweepX(r *Result) (float64, string) {
	load := r.ConfigValue("load")
	for _, kv := range strings.Split(load, ",") {
		k, v, _ := strings.Cut(kv, "=")
		var x float64
		if _, err := fmt.Sscan(v, &x); err == nil && (k == "concurrency" || k == "rate") {
			label := "concurrency (requests in flight)"
			if k == "rate" {
				label = "offered load (requests/s)"
			}
			return x, label
		}
	}
	return math.NaN(), ""
}

// PlotSweep writes a PNG of a sweep: output throughput against load on the left, median
// TTFT and ITL (ms) against load on the right, one point per result (medians over its
// repetitions).
func PlotSweep(path string, results []*Result) error {
	var pts []*Result
	for _, r := range results {
		if r != nil && len(r.Reps) > 0 {
			pts = append(pts, r)
		}
	}
	if len(pts) == 0 {
		return errors.New("plot sweep: no finished points")
	}
	xLabel := ""
	line := func(unit string, scale float64) plotter.XYs {
		var xys plotter.XYs
		for _, r := range pts {
			x, label := sweepX(r)
			if math.IsNaN(x) {
				continue
			}
			xLabel = label
			xys = append(xys, plotter.XY{X: x, Y: scale * median(r.Value(unit))})
		}
		return xys
	}
	thr := plot.New()
	thr.Title.Text = "throughput"
	thr.Y.Label.Text = "output tokens/s"
	if err := plotutil.AddLinePoints(thr, "tok/s", line("tok/s", 1)); err != nil {
		return fmt.Errorf("plot sweep: %w", err)
	}
	lat := plot.New()
	lat.Title.Text = "latency (median)"
	lat.Y.Label.Text = "ms"
	if err := plotutil.AddLinePoints(lat, "TTFT p50", line("ttft-p50-sec", 1e3), "ITL p50", line("itl-p50-sec", 1e3)); err != nil {
		return fmt.Errorf("plot sweep: %w", err)
	}
	thr.X.Label.Text, lat.X.Label.Text = xLabel, xLabel
	thr.Legend.Top, thr.Legend.Left = true, true
	lat.Legend.Top, lat.Legend.Left = true, true
	for _, p := range []*plot.Plot{thr, lat} {
		if xs := line("tok/s", 1); len(xs) > 1 && xs[len(xs)-1].X/math.Max(xs[0].X, 1e-9) >= 20 && xs[0].X > 0 {
			p.X.Scale = plot.LogScale{}
			p.X.Tick.Marker = plot.LogTicks{Prec: -1}
		}
	}

	const w, h = 12 * vg.Inch, 4.5 * vg.Inch
	img := vgimg.New(w, h)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Inch / 4, PadY: vg.Inch / 8, PadTop: vg.Inch / 8, PadBottom: vg.Inch / 8, PadLeft: vg.Inch / 8, PadRight: vg.Inch / 8}
	canvases := plot.Align([][]*plot.Plot{{thr, lat}}, tiles, dc)
	thr.Draw(canvases[0][0])
	lat.Draw(canvases[0][1])

	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("plot sweep: %w", err)
	}
	if err := writeFileAtomic(path, func(w io.Writer) error {
		_, err := vgimg.PngCanvas{Canvas: img}.WriteTo(w)
		return err
	}); err != nil {
		return fmt.Errorf("plot sweep: %w", err)
	}
	return nil
}

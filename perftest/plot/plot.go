// Package plot draws perfgate's results with gonum/plot: the only package that imports it,
// so that a perf case that draws nothing does not build a plotting stack.
package plot

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/perfgate/perfgate/internal/atomicfile"
	"github.com/perfgate/perfgate/perftest"
	"github.com/perfgate/perfgate/perftest/internal/robust"
	"github.com/perfgate/perfgate/perftest/metric"
)

// sweepX is a point's position on the load axis: its concurrency or rate.
func sweepX(r *perftest.Result) (float64, string) {
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

// Sweep writes a PNG of a sweep (perftest.Sweep's results) to path: output throughput
// against load on the left, median TTFT and ITL (ms) against load on the right, one point per
// result (medians over its repetitions). Unfinished points (nil) are left out.
func Sweep(path string, results []*perftest.Result) error {
	var pts []*perftest.Result
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
			xys = append(xys, plotter.XY{X: x, Y: scale * robust.Median(r.Value(unit))})
		}
		return xys
	}
	thr := plot.New()
	thr.Title.Text = "throughput"
	thr.Y.Label.Text = "output tokens/s"
	if err := plotutil.AddLinePoints(thr, metric.TokenRate, line(metric.TokenRate, 1)); err != nil {
		return fmt.Errorf("plot sweep: %w", err)
	}
	lat := plot.New()
	lat.Title.Text = "latency (median)"
	lat.Y.Label.Text = "ms"
	if err := plotutil.AddLinePoints(lat, metric.TTFT.Label+" p50", line(metric.TTFT.P50, 1e3), metric.ITL.Label+" p50", line(metric.ITL.P50, 1e3)); err != nil {
		return fmt.Errorf("plot sweep: %w", err)
	}
	thr.X.Label.Text, lat.X.Label.Text = xLabel, xLabel
	thr.Legend.Top, thr.Legend.Left = true, true
	lat.Legend.Top, lat.Legend.Left = true, true
	for _, p := range []*plot.Plot{thr, lat} {
		if xs := line(metric.TokenRate, 1); len(xs) > 1 && xs[len(xs)-1].X/math.Max(xs[0].X, 1e-9) >= 20 && xs[0].X > 0 {
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

	if err := atomicfile.Write(path, func(w io.Writer) error {
		_, err := vgimg.PngCanvas{Canvas: img}.WriteTo(w)
		return err
	}); err != nil {
		return fmt.Errorf("plot sweep: %w", err)
	}
	return nil
}

package plot

import (
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/perfgate/perfgate/internal/atomicfile"
)

// Panel is one chart: lines over a shared pair of axes.
type Panel struct {
	// Title, X and Y label the chart and its axes.
	Title, X, Y string
	// LogX and LogY draw an axis on a log scale (its values must be > 0). A linear Y axis
	// starts at 0 when no value is negative.
	LogX, LogY bool
	// Curves are drawn in order, each in its own colour.
	Curves []Curve
}

// Curve is one named series of a panel.
type Curve struct {
	// Name is the legend entry.
	Name string
	// X and Y are the points, of equal length; a NaN Y leaves its point out.
	X, Y []float64
	// Points draws markers only (measured points); otherwise a line with markers, or a
	// plain line with Smooth (a fitted curve).
	Points, Smooth bool
}

// Panels writes a PNG of panels side by side (up to three a row) to path, atomically: the
// router benchmark's TTFT and throughput against the prefix ratio, the profiler's measured
// points against their fitted curves.
func Panels(path string, panels ...Panel) error {
	if len(panels) == 0 {
		return errors.New("plot panels: no panels")
	}
	var plots []*plot.Plot
	for i, pn := range panels {
		p := plot.New()
		p.Title.Text, p.X.Label.Text, p.Y.Label.Text = pn.Title, pn.X, pn.Y
		p.Legend.Left = true
		n := 0
		for j, l := range pn.Curves {
			if len(l.X) != len(l.Y) {
				return fmt.Errorf("plot panels: panel %d line %q: %d x values, %d y values", i, l.Name, len(l.X), len(l.Y))
			}
			var xys plotter.XYs
			for k := range l.X {
				if math.IsNaN(l.Y[k]) || math.IsNaN(l.X[k]) || (pn.LogX && l.X[k] <= 0) || (pn.LogY && l.Y[k] <= 0) {
					continue
				}
				xys = append(xys, plotter.XY{X: l.X[k], Y: l.Y[k]})
			}
			if len(xys) == 0 {
				continue
			}
			n++
			c := plotutil.Color(j)
			if err := addLine(p, l, xys, c, j); err != nil {
				return fmt.Errorf("plot panels: %w", err)
			}
		}
		if n == 0 {
			return fmt.Errorf("plot panels: panel %d (%q) has no points", i, pn.Title)
		}
		if pn.LogX {
			p.X.Scale, p.X.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
		}
		if pn.LogY {
			p.Y.Scale, p.Y.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
		} else if p.Y.Min >= 0 {
			p.Y.Min = 0 // a difference looks as large as it is
		}
		plots = append(plots, p)
	}
	cols := min(len(plots), 3)
	rows := (len(plots) + cols - 1) / cols
	grid := make([][]*plot.Plot, rows)
	for i := range grid {
		grid[i] = make([]*plot.Plot, cols)
		for j := range cols {
			if k := i*cols + j; k < len(plots) {
				grid[i][j] = plots[k]
			}
		}
	}
	w, h := vg.Length(cols)*6*vg.Inch, vg.Length(rows)*4.5*vg.Inch
	img := vgimg.New(w, h)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Inch / 4, PadY: vg.Inch / 4, PadTop: vg.Inch / 8, PadBottom: vg.Inch / 8, PadLeft: vg.Inch / 8, PadRight: vg.Inch / 8}
	canvases := plot.Align(grid, tiles, dc)
	for i := range grid {
		for j, p := range grid[i] {
			if p != nil {
				p.Draw(canvases[i][j])
			}
		}
	}
	if err := atomicfile.Write(path, func(w io.Writer) error {
		_, err := vgimg.PngCanvas{Canvas: img}.WriteTo(w)
		return err
	}); err != nil {
		return fmt.Errorf("plot panels: %w", err)
	}
	return nil
}

func addLine(p *plot.Plot, l Curve, xys plotter.XYs, c color.Color, j int) error {
	switch {
	case l.Points:
		s, err := plotter.NewScatter(xys)
		if err != nil {
			return err
		}
		s.GlyphStyle.Color, s.GlyphStyle.Shape = c, plotutil.Shape(j)
		p.Add(s)
		p.Legend.Add(l.Name, s)
	case l.Smooth:
		ln, err := plotter.NewLine(xys)
		if err != nil {
			return err
		}
		ln.LineStyle.Color, ln.LineStyle.Width = c, vg.Points(1.5)
		p.Add(ln)
		p.Legend.Add(l.Name, ln)
	default:
		ln, pts, err := plotter.NewLinePoints(xys)
		if err != nil {
			return err
		}
		ln.LineStyle.Color, pts.GlyphStyle.Color, pts.GlyphStyle.Shape = c, c, plotutil.Shape(j)
		p.Add(ln, pts)
		p.Legend.Add(l.Name, ln, pts)
	}
	return nil
}

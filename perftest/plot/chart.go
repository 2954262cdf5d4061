package plot

import (
	"bytes"
	"errors"
	"fmt"
	"image/color"
	"math"
	"regexp"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Chart is a plot described as data: series of points on two axes, drawn as SVG by
// gonum/plot. Reports build charts and inline them in HTML (InlineSVG); a README can
// commit one as a file (SVG). Legends belong to the page around the chart (Color gives a
// series' colour), so every coloured mark in the SVG is data.
type Chart struct {
	Title, XLabel, YLabel string
	Series                []Series
	// Marks are vertical lines across the plot (change points, a throttled repetition).
	Marks []Mark
	// LogX draws the x axis on a log scale (positive x only).
	LogX bool
	// Categories names the integer x positions 0, 1, ... (the groups of a strip plot) and
	// replaces the x axis' numbers with them.
	Categories []string
	// YFromZero starts the y axis at 0 when every value is positive.
	YFromZero bool
	// XMin and XMax fix the x axis when XMax > XMin (charts that share a time axis).
	XMin, XMax float64
	// Width and Height are the drawing's size in inches (0: 4 and 2.6); a page scales it.
	Width, Height float64
}

// Series is one set of points in one colour.
type Series struct {
	Name   string
	Points []Point
	Style  Style
	// Color is an index into the palette (see Color).
	Color int
	// Labels, when set, name the points (one per point, "" for none), drawn beside them.
	Labels []string
}

// Point is one point of a series.
type Point struct{ X, Y float64 }

// Mark is a vertical line at X in a palette colour.
type Mark struct {
	X     float64
	Color int
}

// Style is how a series is drawn.
type Style int

// Styles.
const (
	Dots     Style = iota // a filled circle per point
	Rings                 // a larger open circle per point, to ring points drawn by another series
	Line                  // a line through the points
	LineDots              // a line with a dot on each point
	Steps                 // a step line: each value holds until the next point
	Dashes                // a short horizontal dash per point (medians of a strip plot)
)

// Palette colours (Okabe and Ito's, distinguishable with the common colour blindnesses),
// for series and for the legends of the page around a chart.
const (
	Blue = iota
	Orange
	Green
	Vermillion
	Purple
	Sky
	Gray
	Black
)

var palette = []color.RGBA{
	{0x00, 0x72, 0xb2, 0xff}, {0xe6, 0x9f, 0x00, 0xff}, {0x00, 0x9e, 0x73, 0xff}, {0xd5, 0x5e, 0x00, 0xff},
	{0xcc, 0x79, 0xa7, 0xff}, {0x56, 0xb4, 0xe9, 0xff}, {0x88, 0x88, 0x88, 0xff}, {0x00, 0x00, 0x00, 0xff},
}

// Color is palette entry i as a CSS colour, "#0072b2".
func Color(i int) string {
	c := palette[((i%len(palette))+len(palette))%len(palette)]
	return fmt.Sprintf("#%02x%02x%02x", c.R, c.G, c.B)
}

// DataColors lists the palette's CSS colours but black: the colours of data marks, which
// axes, ticks and text (black and grey shades) never use, so a test can count a chart's
// data marks by colour.
func DataColors() []string {
	var cs []string
	for i := range Black {
		cs = append(cs, Color(i))
	}
	return cs
}

// ErrNoData is returned for a chart without one finite point to draw.
var ErrNoData = errors.New("no data to plot")

// Points counts the finite points of the chart's series.
func (c *Chart) Points() int {
	n := 0
	for _, s := range c.Series {
		for _, p := range s.Points {
			if finite(p.X) && finite(p.Y) && (!c.LogX || p.X > 0) {
				n++
			}
		}
	}
	return n
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

var sans = font.Font{Typeface: "Liberation", Variant: "Sans"}

// build turns the chart into a gonum plot.
func (c *Chart) build() (*plot.Plot, error) {
	if c.Points() == 0 {
		return nil, fmt.Errorf("plot %q: %w", c.Title, ErrNoData)
	}
	p := plot.New()
	p.Title.Text, p.X.Label.Text, p.Y.Label.Text = c.Title, c.XLabel, c.YLabel
	p.Title.TextStyle.Font = font.From(sans, 10)
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font = font.From(sans, 9)
		a.Tick.Label.Font = font.From(sans, 8)
		a.Padding = vg.Points(2)
	}
	grid := plotter.NewGrid()
	grid.Vertical.Color, grid.Horizontal.Color = color.Gray{0xe4}, color.Gray{0xe4}
	if c.Categories != nil {
		grid.Vertical.Width = 0
	}
	p.Add(grid)
	for _, s := range c.Series {
		if err := c.add(p, s); err != nil {
			return nil, fmt.Errorf("plot %q: series %q: %w", c.Title, s.Name, err)
		}
	}
	if c.LogX {
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	if c.Categories != nil {
		var ticks []plot.Tick
		for i, name := range c.Categories {
			ticks = append(ticks, plot.Tick{Value: float64(i), Label: name})
		}
		p.X.Tick.Marker = plot.ConstantTicks(ticks)
		p.X.Min, p.X.Max = -0.5, float64(len(c.Categories))-0.5
	}
	if c.YFromZero && p.Y.Min > 0 {
		p.Y.Min = 0
	}
	if c.XMax > c.XMin {
		p.X.Min, p.X.Max = c.XMin, c.XMax
	}
	switch { // one value: give the axis some height
	case p.Y.Min == p.Y.Max && p.Y.Min == 0:
		p.Y.Max = 1
	case p.Y.Min == p.Y.Max:
		pad := math.Abs(p.Y.Min) * 0.05
		p.Y.Min, p.Y.Max = p.Y.Min-pad, p.Y.Max+pad
	}
	for _, m := range c.Marks {
		l, err := plotter.NewLine(plotter.XYs{{X: m.X, Y: p.Y.Min}, {X: m.X, Y: p.Y.Max}})
		if err != nil {
			return nil, fmt.Errorf("plot %q: mark at %v: %w", c.Title, m.X, err)
		}
		l.Color, l.Width, l.Dashes = palette[m.Color%len(palette)], vg.Points(1.2), []vg.Length{vg.Points(4), vg.Points(2)}
		p.Add(l)
	}
	return p, nil
}

func (c *Chart) add(p *plot.Plot, s Series) error {
	var (
		xys    plotter.XYs
		labels []string
	)
	for i, pt := range s.Points {
		if finite(pt.X) && finite(pt.Y) && (!c.LogX || pt.X > 0) {
			xys = append(xys, plotter.XY{X: pt.X, Y: pt.Y})
			if i < len(s.Labels) {
				labels = append(labels, s.Labels[i])
			} else {
				labels = append(labels, "")
			}
		}
	}
	if len(xys) == 0 {
		return nil // a series without data draws nothing; the chart as a whole has some
	}
	if len(s.Labels) > 0 {
		l, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: labels})
		if err != nil {
			return err
		}
		for i := range l.TextStyle {
			l.TextStyle[i].Font = font.From(sans, 7)
			l.TextStyle[i].Color = color.Gray{0x44}
		}
		l.Offset = vg.Point{X: vg.Points(3), Y: vg.Points(3)}
		p.Add(l)
	}
	col := palette[((s.Color%len(palette))+len(palette))%len(palette)]
	dots := func(shape draw.GlyphDrawer, r vg.Length) error {
		sc, err := plotter.NewScatter(xys)
		if err != nil {
			return err
		}
		sc.GlyphStyle = draw.GlyphStyle{Color: col, Radius: r, Shape: shape}
		p.Add(sc)
		return nil
	}
	line := func(step plotter.StepKind) error {
		l, err := plotter.NewLine(xys)
		if err != nil {
			return err
		}
		l.Color, l.Width, l.StepStyle = col, vg.Points(1.5), step
		p.Add(l)
		return nil
	}
	switch s.Style {
	case Dots:
		return dots(draw.CircleGlyph{}, vg.Points(2.2))
	case Rings:
		return dots(draw.RingGlyph{}, vg.Points(4.5))
	case Line:
		return line(plotter.NoStep)
	case LineDots:
		if err := line(plotter.NoStep); err != nil {
			return err
		}
		return dots(draw.CircleGlyph{}, vg.Points(2.5))
	case Steps:
		return line(plotter.PostStep)
	case Dashes:
		for _, xy := range xys {
			l, err := plotter.NewLine(plotter.XYs{{X: xy.X - 0.28, Y: xy.Y}, {X: xy.X + 0.28, Y: xy.Y}})
			if err != nil {
				return err
			}
			l.Color, l.Width = col, vg.Points(2)
			p.Add(l)
		}
		return nil
	}
	return fmt.Errorf("unknown style %d", s.Style)
}

// SVG draws the chart as a standalone SVG file. Text names the Liberation Sans font
// gonum measures with, falling back to the metric-compatible Arial and to any sans-serif
// font: no font is embedded or fetched.
func (c *Chart) SVG() ([]byte, error) {
	p, err := c.build()
	if err != nil {
		return nil, err
	}
	w, h := vg.Length(cmpOr(c.Width, 4))*vg.Inch, vg.Length(cmpOr(c.Height, 2.6))*vg.Inch
	canvas := vgsvg.New(w, h)
	p.Draw(draw.New(canvas))
	var b bytes.Buffer
	if _, err := canvas.WriteTo(&b); err != nil {
		return nil, fmt.Errorf("plot %q: %w", c.Title, err)
	}
	return fontFallback.ReplaceAll(b.Bytes(), []byte("font-family:Liberation Sans,Arial,Helvetica,sans-serif;")), nil
}

var (
	fontFallback = regexp.MustCompile(`font-family:Liberation Sans;`)
	svgHead      = regexp.MustCompile(`(?s)\A.*?<svg width="([0-9.]+)pt" height="([0-9.]+)pt"(.*?)\s*xmlns="[^"]*"\s*xmlns:xlink="[^"]*">`)
)

// InlineSVG draws the chart as an <svg> element for an HTML page: no XML prolog and no
// namespace attributes (an HTML parser gives inline svg its namespace), a viewBox and no
// fixed size, so that CSS sizes it to the page, and a title naming it for screen readers.
func (c *Chart) InlineSVG() (string, error) {
	b, err := c.SVG()
	if err != nil {
		return "", err
	}
	m := svgHead.FindSubmatchIndex(b)
	if m == nil {
		return "", fmt.Errorf("plot %q: unexpected SVG header from gonum: %.120q", c.Title, b)
	}
	wpt, _ := strconv.ParseFloat(string(b[m[2]:m[3]]), 64)
	hpt, _ := strconv.ParseFloat(string(b[m[4]:m[5]]), 64)
	head := fmt.Sprintf(`<svg class="chart" viewBox="0 0 %g %g" role="img" aria-label="%s"><title>%s</title>`,
		wpt, hpt, htmlEscape(c.Title), htmlEscape(c.Title))
	return head + string(bytes.TrimSpace(b[m[1]:])), nil
}

func htmlEscape(s string) string {
	var b bytes.Buffer
	for _, r := range s {
		switch r {
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '&':
			b.WriteString("&amp;")
		case '"':
			b.WriteString("&#34;")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func cmpOr(v, def float64) float64 {
	if v > 0 {
		return v
	}
	return def
}

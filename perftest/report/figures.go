package report

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/perfgate/perfgate/perftest/gate"
	"github.com/perfgate/perfgate/perftest/internal/robust"
	"github.com/perfgate/perfgate/perftest/machine"
	"github.com/perfgate/perfgate/perftest/metric"
	"github.com/perfgate/perfgate/perftest/plot"
	"github.com/perfgate/perfgate/perftest/resultfile"
)

// figGroup is a titled set of charts on the page, with the legend they share.
type figGroup struct {
	Title  string
	Note   string
	Legend []legendItem
	Charts []*plot.Chart
	// Wide charts take a row each.
	Wide bool
}

type legendItem struct {
	Color int
	Mark  string // "●", "◯", "—", "┆"
	Text  string
}

// scaleOf converts a unit's values for display: seconds as ms.
func scaleOf(unit string) (float64, string) {
	if d, _ := metric.Default().Lookup(unit); d.Unit == metric.Seconds {
		return 1e3, "ms"
	}
	return 1, unit
}

// jitter spreads the i-th of n points of a strip around its group's position, the same way
// on every run (a low-discrepancy sequence, no randomness).
func jitter(i int) float64 {
	f := math.Mod(float64(i)*0.6180339887, 1)
	return 0.3 * (f - 0.5)
}

// strip draws one metric's repetitions on two sides (baseline and current, A and B):
// every value, each side's median as a dash, throttled repetitions ringed.
func strip(title, unit string, sides []stripSide) *plot.Chart {
	scale, label := scaleOf(unit)
	c := &plot.Chart{Title: title, YLabel: label, Width: 3.2, Height: 2.3}
	for gi, s := range sides {
		c.Categories = append(c.Categories, s.name)
		pts := make([]plot.Point, 0, len(s.vals))
		for i, v := range s.vals {
			pts = append(pts, plot.Point{X: float64(gi) + jitter(i), Y: scale * v})
		}
		c.Series = append(c.Series, plot.Series{Name: s.name, Points: pts, Style: plot.Dots, Color: s.color})
		var ring []plot.Point
		for _, r := range s.throttled {
			if r < len(pts) {
				ring = append(ring, pts[r])
			}
		}
		if len(ring) > 0 {
			c.Series = append(c.Series, plot.Series{Name: s.name + " throttled", Points: ring, Style: plot.Rings, Color: plot.Orange})
		}
		if len(s.vals) > 0 {
			c.Series = append(c.Series, plot.Series{Name: s.name + " median", Points: []plot.Point{{X: float64(gi), Y: scale * robust.Median(s.vals)}}, Style: plot.Dashes, Color: plot.Black})
		}
	}
	return c
}

type stripSide struct {
	name      string
	vals      []float64
	color     int
	throttled []int // repetition indexes (0-based) whose GPU throttled
}

// repValues returns a unit's value per repetition, NaN where a repetition lacks it, so
// that indexes stay repetition numbers.
func repValues(f *resultfile.File, unit string) []float64 {
	out := make([]float64, len(f.Reps))
	for i, r := range f.Reps {
		out[i] = math.NaN()
		for _, m := range r.Metrics {
			if m.Unit == unit {
				out[i] = m.Value
			}
		}
	}
	return out
}

func throttledIdx(ts []machine.ThrottledRep) []int {
	var out []int
	for _, t := range ts {
		out = append(out, t.Rep)
	}
	return out
}

// verdictColor colours the current side by the metric's verdict.
func verdictColor(v gate.Verdict) int {
	switch v {
	case gate.Regression:
		return plot.Vermillion
	case gate.Improvement:
		return plot.Green
	}
	return plot.Blue
}

// distributions draws every gated metric's repetitions, both sides of a comparison (or the
// current run alone), in the order of the comparison table.
func distributions(rep *gate.Report, base, cur *resultfile.File, baseName, curName string, baseTh, curTh []machine.ThrottledRep) *figGroup {
	g := &figGroup{Title: "Distributions across repetitions"}
	units := slices.DeleteFunc(slices.Clone(cur.Units), func(u string) bool { return machine.IsTelemetry(u) || metric.IsPart(u) })
	verdicts := map[string]gate.Verdict{}
	if rep != nil {
		units = units[:0]
		for _, d := range rep.Deltas {
			units = append(units, d.Unit)
			verdicts[d.Unit] = d.Verdict
		}
	}
	for _, u := range units {
		var sides []stripSide
		if base != nil {
			sides = append(sides, stripSide{baseName, repValues(base, u), plot.Gray, throttledIdx(baseTh)})
		}
		sides = append(sides, stripSide{curName, repValues(cur, u), verdictColor(verdicts[u]), throttledIdx(curTh)})
		title := u
		if v, ok := verdicts[u]; ok && v != gate.Unchanged {
			title += " (" + v.String() + ")"
		}
		g.Charts = append(g.Charts, strip(title, u, sides))
	}
	if base != nil {
		g.Legend = append(g.Legend, legendItem{plot.Gray, "●", baseName})
	}
	g.Legend = append(g.Legend, legendItem{plot.Blue, "●", curName})
	for _, v := range []gate.Verdict{gate.Regression, gate.Improvement} {
		for _, got := range verdicts {
			if got == v {
				g.Legend = append(g.Legend, legendItem{verdictColor(v), "●", curName + ", " + map[gate.Verdict]string{gate.Regression: "regressed", gate.Improvement: "improved"}[v]})
				break
			}
		}
	}
	g.Legend = append(g.Legend, legendItem{plot.Black, "—", "median"})
	if len(baseTh)+len(curTh) > 0 {
		g.Legend = append(g.Legend, legendItem{plot.Orange, "◯", "repetition in which a GPU throttled"})
	}
	g.Note = "One dot per repetition."
	return g
}

// telemetry draws the GPU figures per repetition, throttled repetitions ringed.
func telemetry(base, cur *resultfile.File, baseName, curName string, baseTh, curTh []machine.ThrottledRep) *figGroup {
	has := func(f *resultfile.File) bool { return f != nil && machine.HasTelemetry(f) }
	if !has(base) && !has(cur) {
		return nil
	}
	g := &figGroup{Title: "GPU telemetry (not gated)", Note: "Sampled with nvidia-smi during each repetition; one dot per repetition in the order they ran."}
	for _, m := range []struct{ unit, title, label string }{
		{metric.GPUSMClock, "SM clock (mean)", "MHz"},
		{metric.GPUSMClockMin, "SM clock (lowest)", "MHz"},
		{metric.GPUTempMax, "temperature (highest)", "°C"},
		{metric.GPUPower, "power per GPU (mean)", "W"},
		{metric.GPUUtil, "utilization (mean)", "%"},
		{metric.GPUThrottled, "readings throttled", "share"},
	} {
		c := &plot.Chart{Title: m.title, XLabel: "repetition", YLabel: m.label, Width: 3.2, Height: 2.3}
		for _, s := range []struct {
			f     *resultfile.File
			th    []machine.ThrottledRep
			color int
			name  string
		}{{base, baseTh, plot.Gray, baseName}, {cur, curTh, plot.Blue, curName}} {
			if !has(s.f) {
				continue
			}
			var pts, ring []plot.Point
			for i, v := range repValues(s.f, m.unit) {
				pts = append(pts, plot.Point{X: float64(i + 1), Y: v})
			}
			for _, t := range s.th {
				ring = append(ring, pts[t.Rep])
			}
			c.Series = append(c.Series, plot.Series{Name: s.name, Points: pts, Style: plot.LineDots, Color: s.color},
				plot.Series{Name: s.name + " throttled", Points: ring, Style: plot.Rings, Color: plot.Orange})
		}
		if c.Points() > 0 {
			g.Charts = append(g.Charts, c)
		}
	}
	if has(base) {
		g.Legend = append(g.Legend, legendItem{plot.Gray, "●", baseName})
	}
	g.Legend = append(g.Legend, legendItem{plot.Blue, "●", curName}, legendItem{plot.Orange, "◯", "throttled (power cap, thermal, hardware slowdown)"})
	return g
}

// sweepFigures draws a sweep's latency and throughput against load and its pareto front.
func sweepFigures(s *Sweep) *figGroup {
	g := &figGroup{Title: "Against load", Note: "Medians over each point's repetitions."}
	logX := len(s.X) > 1 && s.X[0] > 0 && s.X[len(s.X)-1]/s.X[0] >= 20
	line := func(unit string) []plot.Point {
		scale, _ := scaleOf(unit)
		var pts []plot.Point
		for i, p := range s.Points {
			pts = append(pts, plot.Point{X: s.X[i], Y: scale * robust.Median(p.Cur.Values(unit))})
		}
		return pts
	}
	for _, m := range []metric.Percentiles{metric.TTFT, metric.ITL} {
		g.Charts = append(g.Charts, &plot.Chart{Title: m.Label + " against load", XLabel: s.XLabel, YLabel: "ms", LogX: logX, YFromZero: true, Width: 3.6, Height: 2.6,
			Series: []plot.Series{{Name: "p50", Points: line(m.P50), Style: plot.LineDots, Color: plot.Blue}, {Name: "p99", Points: line(m.P99), Style: plot.LineDots, Color: plot.Vermillion}}})
	}
	g.Charts = append(g.Charts, &plot.Chart{Title: "throughput against load", XLabel: s.XLabel, YLabel: "output tokens/s", LogX: logX, YFromZero: true, Width: 3.6, Height: 2.6,
		Series: []plot.Series{{Name: metric.TokenRate, Points: line(metric.TokenRate), Style: plot.LineDots, Color: plot.Green}}})
	g.Charts = append(g.Charts, pareto(s))
	g.Legend = []legendItem{{plot.Blue, "●", "p50"}, {plot.Vermillion, "●", "p99"}, {plot.Green, "●", "output tokens/s"},
		{plot.Gray, "●", "sweep point (pareto chart)"}, {plot.Purple, "●", "pareto front"}}
	return g
}

// pareto draws output tokens/s per GPU against tokens/s per user (1 / TPOT p50), one point
// per load, and the front of points no other point beats on both.
func pareto(s *Sweep) *plot.Chart {
	gpus, note := 1.0, " (1 GPU assumed)"
	type pt struct {
		p     plot.Point
		label string
	}
	var pts []pt
	for i, p := range s.Points {
		g := gpuCount(p.Cur)
		if g > 0 {
			gpus, note = float64(g), ""
		}
		pts = append(pts, pt{plot.Point{X: perUser(p.Cur), Y: robust.Median(p.Cur.Values(metric.TokenRate)) / gpus}, fmt.Sprintf("%g", s.X[i])})
	}
	var all, front []plot.Point
	var labels []string
	for _, a := range pts {
		all, labels = append(all, a.p), append(labels, a.label)
		dominated := false
		for _, b := range pts {
			if b.p.X >= a.p.X && b.p.Y >= a.p.Y && (b.p.X > a.p.X || b.p.Y > a.p.Y) {
				dominated = true
			}
		}
		if !dominated && finite(a.p.X) && finite(a.p.Y) {
			front = append(front, a.p)
		}
	}
	slices.SortFunc(front, func(a, b plot.Point) int { return cmpFloat(a.X, b.X) })
	return &plot.Chart{Title: "pareto: throughput per GPU against speed per user" + note, XLabel: "tokens/s per user (1 / TPOT p50)", YLabel: "output tokens/s per GPU",
		YFromZero: true, Width: 3.6, Height: 2.6,
		Series: []plot.Series{{Name: "front", Points: front, Style: plot.Line, Color: plot.Purple},
			{Name: "points", Points: all, Style: plot.Dots, Color: plot.Gray, Labels: labels}}}
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// gpuCount is the result's "gpus" config line (0 when absent or not a number).
func gpuCount(f *resultfile.File) int {
	var n int
	if _, err := fmt.Sscan(f.ConfigValue("gpus"), &n); err != nil {
		return 0
	}
	return n
}

// historyFigures draws every metric's median over the runs, change points marked; metrics
// with change points first.
func historyFigures(h *History) *figGroup {
	g := &figGroup{Title: "Over the runs", Note: fmt.Sprintf("Each metric's median per run, run 1 the oldest of %d; dashed lines mark change points (the first run after the change).", len(h.Entries))}
	var units []string
	for _, e := range h.Entries {
		for u := range e.Medians {
			if !slices.Contains(units, u) && !machine.IsTelemetry(u) {
				units = append(units, u)
			}
		}
	}
	changes := map[string][]plot.Mark{}
	for _, cp := range h.Changes {
		col := plot.Green
		if cp.Worse {
			col = plot.Vermillion
		}
		changes[cp.Unit] = append(changes[cp.Unit], plot.Mark{X: float64(cp.Index + 1), Color: col})
	}
	slices.SortStableFunc(units, func(a, b string) int {
		if (len(changes[a]) > 0) != (len(changes[b]) > 0) {
			if len(changes[a]) > 0 {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	for _, u := range units {
		scale, label := scaleOf(u)
		var pts []plot.Point
		for i, e := range h.Entries {
			if v, ok := e.Medians[u]; ok {
				pts = append(pts, plot.Point{X: float64(i + 1), Y: scale * v})
			}
		}
		title := u
		if n := len(changes[u]); n > 0 {
			title += fmt.Sprintf(" (%d change %s)", n, plural(n, "point", "points"))
		}
		g.Charts = append(g.Charts, &plot.Chart{Title: title, XLabel: "run", YLabel: label, Width: 3.2, Height: 2.3,
			Series: []plot.Series{{Name: u, Points: pts, Style: plot.LineDots, Color: plot.Blue}}, Marks: changes[u]})
	}
	g.Legend = []legendItem{{plot.Blue, "●", "median of a run"}, {plot.Vermillion, "┆", "change point, worse"}, {plot.Green, "┆", "change point, better"}}
	return g
}

// abOrderFigures draws two headline metrics in the order the A/B repetitions ran, so that
// drift over the run shows (ABBA blocks put it on both sides).
func abOrderFigures(ab *AB) *figGroup {
	g := &figGroup{Title: "In the order the repetitions ran", Note: "A and B alternate in ABBA blocks (A B, B A, ...), so a drift of the machine over the run lands on both sides."}
	bFirst := 0 // the pair whose B ran first: odd pairs in A B B A blocks, even ones in B A A B
	if o, ok, _ := gate.ReadPairedOrder(ab.B); ok && o.First == "BAAB" {
		bFirst = 1
	}
	for _, u := range []string{metric.TokenRate, metric.TTFTP50, metric.ITLP50} {
		scale, label := scaleOf(u)
		var pa, pb []plot.Point
		slot := 0
		for i := range max(len(ab.A.Reps), len(ab.B.Reps)) {
			first, second := &pa, &pb
			fa, fb := ab.A, ab.B
			if i%2 == 1-bFirst {
				first, second, fa, fb = &pb, &pa, ab.B, ab.A
			}
			for _, s := range []struct {
				pts *[]plot.Point
				f   *resultfile.File
			}{{first, fa}, {second, fb}} {
				slot++
				if i < len(s.f.Reps) {
					*s.pts = append(*s.pts, plot.Point{X: float64(slot), Y: scale * repValues(s.f, u)[i]})
				}
			}
		}
		c := &plot.Chart{Title: u, XLabel: "slot in the run", YLabel: label, Width: 3.2, Height: 2.3,
			Series: []plot.Series{{Name: "A", Points: pa, Style: plot.Dots, Color: plot.Gray}, {Name: "B", Points: pb, Style: plot.Dots, Color: plot.Blue}}}
		if c.Points() > 0 {
			g.Charts = append(g.Charts, c)
		}
	}
	g.Legend = []legendItem{{plot.Gray, "●", "A"}, {plot.Blue, "●", "B"}}
	return g
}

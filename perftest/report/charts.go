package report

import "github.com/perfgate/perfgate/perftest/plot"

// Charts returns the case's charts, as report.html draws them: every gated metric's
// distribution, the timeline, the GPU telemetry. Use one on its own (plot.Chart.SVG) for
// a README or a slide.
func (c *Case) Charts() []*plot.Chart { return charts(c.groups()) }

func (c *Case) groups() []*figGroup {
	var groups []*figGroup
	if c.Compare != nil {
		groups = append(groups, distributions(c.Compare, c.Base, c.Cur, "baseline", "current", c.BaseThrottled, c.Throttled),
			telemetry(c.Base, c.Cur, "baseline", "current", c.BaseThrottled, c.Throttled))
	} else {
		groups = append(groups, distributions(nil, nil, c.Cur, "", "current", nil, c.Throttled),
			telemetry(nil, c.Cur, "", "current", nil, c.Throttled))
	}
	if c.Timeline != nil { // between the distributions and the telemetry
		groups = append(groups[:1], append([]*figGroup{timelineFigures(c.Timeline)}, groups[1:]...)...)
	}
	return groups
}

// Charts returns the A/B run's charts: distributions, run order, GPU telemetry.
func (ab *AB) Charts() []*plot.Chart { return charts(ab.groups()) }

func (ab *AB) groups() []*figGroup {
	return []*figGroup{distributions(ab.Compare, ab.A, ab.B, "A", "B", ab.ThrottledA, ab.ThrottledB),
		abOrderFigures(ab), telemetry(ab.A, ab.B, "A", "B", ab.ThrottledA, ab.ThrottledB)}
}

// Charts returns the sweep's charts: TTFT, ITL and throughput against load, the pareto front.
func (s *Sweep) Charts() []*plot.Chart { return charts([]*figGroup{sweepFigures(s)}) }

// Charts returns every metric of the history over its runs, change points marked.
func (h *History) Charts() []*plot.Chart { return charts([]*figGroup{historyFigures(h)}) }

func charts(groups []*figGroup) []*plot.Chart {
	var out []*plot.Chart
	for _, g := range groups {
		if g != nil {
			out = append(out, g.Charts...)
		}
	}
	return out
}

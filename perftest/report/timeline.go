package report

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/perfgate/perfgate/perftest"
	"github.com/perfgate/perfgate/perftest/plot"
)

// maxPoints bounds the points of one timeline chart: beyond it every k-th is drawn, so a
// long run's page stays small (the caption says so).
const maxPoints = 3000

// timelineFigures draws one repetition over time: each request's TTFT (and, for a model
// that reasons, its time to first output token) at the time it was due, each inter-token
// gap at the time its token arrived (reasoning tokens apart from output tokens), the
// requests in flight with the server's waiting queue, and the server's KV-cache usage.
func timelineFigures(tl *Timeline) *figGroup {
	g := &figGroup{Title: "Timeline", Wide: true}
	rp := requestPoints(tl.Records)
	g.Note = fmt.Sprintf("%s; %d requests in it, %d inter-token gaps.", capitalize(tl.Why), len(tl.Records), rp.gaps)
	if rp.reasoningGaps > 0 {
		g.Note = fmt.Sprintf("%s; %d requests in it, %d inter-token gaps, %d of them before a reasoning token.", capitalize(tl.Why), len(tl.Records), rp.gaps, rp.reasoningGaps)
	}
	if rp.stride > 1 || rp.ttftStride > 1 {
		g.Note += fmt.Sprintf(" Every %d-th gap and every %d-th request drawn.", rp.stride, rp.ttftStride)
	}
	if len(rp.failed) > 0 {
		g.Note += fmt.Sprintf(" %d failed requests drawn at their end-to-end time.", len(rp.failed))
	}
	const w, h = 7.5, 2.4
	g.Charts = append(g.Charts,
		&plot.Chart{Title: "TTFT of each request, at the time it was due", XLabel: "time in the repetition (s)", YLabel: "ms", YFromZero: true, Width: w, Height: h,
			Series: []plot.Series{{Name: "TTFT", Points: rp.ttft, Style: plot.Dots, Color: plot.Blue}, {Name: "TTFO", Points: rp.ttfo, Style: plot.Dots, Color: plot.Green},
				{Name: "failed", Points: rp.failed, Style: plot.Rings, Color: plot.Vermillion}}},
		&plot.Chart{Title: "inter-token latency of each gap, at the time its token arrived", XLabel: "time in the repetition (s)", YLabel: "ms", YFromZero: true, Width: w, Height: h,
			Series: []plot.Series{{Name: "ITL, reasoning", Points: rp.itlReasoning, Style: plot.Dots, Color: plot.Sky}, {Name: "ITL", Points: rp.itl, Style: plot.Dots, Color: plot.Purple}}})
	waiting, kv := serverPoints(tl.Server)
	g.Charts = append(g.Charts, &plot.Chart{Title: "load: requests in flight and waiting in the server", XLabel: "time in the repetition (s)", YLabel: "requests", YFromZero: true, Width: w, Height: h,
		Series: []plot.Series{{Name: "in flight", Points: inFlight(tl.Records), Style: plot.Steps, Color: plot.Green},
			{Name: "server waiting", Points: waiting, Style: plot.Steps, Color: plot.Orange}}})
	if len(kv) > 0 {
		g.Charts = append(g.Charts, &plot.Chart{Title: "server KV-cache usage", XLabel: "time in the repetition (s)", YLabel: "% of blocks", YFromZero: true, Width: w, Height: h,
			Series: []plot.Series{{Name: "KV usage", Points: kv, Style: plot.LineDots, Color: plot.Sky}}})
	}
	shareTimeAxis(g.Charts)
	g.Legend = []legendItem{{plot.Blue, "●", "TTFT"}}
	if len(rp.ttfo) > 0 {
		g.Legend = append(g.Legend, legendItem{plot.Green, "●", "time to first output token (after reasoning)"})
	}
	if len(rp.itlReasoning) > 0 {
		g.Legend = append(g.Legend, legendItem{plot.Sky, "●", "inter-token gap before a reasoning token"}, legendItem{plot.Purple, "●", "inter-token gap before an output token"})
	} else {
		g.Legend = append(g.Legend, legendItem{plot.Purple, "●", "inter-token gap"})
	}
	g.Legend = append(g.Legend, legendItem{plot.Green, "—", "requests in flight (client)"})
	if len(waiting) > 0 {
		g.Legend = append(g.Legend, legendItem{plot.Orange, "—", "requests waiting (server)"})
	}
	if len(kv) > 0 {
		g.Legend = append(g.Legend, legendItem{plot.Sky, "●", "KV-cache usage (server)"})
	}
	if len(rp.failed) > 0 {
		g.Legend = append(g.Legend, legendItem{plot.Vermillion, "◯", "failed request"})
	}
	if len(tl.Server) == 0 {
		g.Note += " The server's queue and KV usage were not recorded (no NAME.server.jsonl)."
	}
	return g
}

// timelinePoints are the requests of a repetition as points: each one's TTFT at the time
// it was due (and its time to first output token, when it reasoned first), each failed one
// at its end-to-end time, and each inter-token gap at the time its token arrived, those
// before a reasoning token apart; thinned to every stride-th gap and every ttftStride-th
// request beyond maxPoints.
type timelinePoints struct {
	ttft, ttfo, failed  []plot.Point
	itl, itlReasoning   []plot.Point
	gaps, reasoningGaps int
	stride, ttftStride  int
}

func requestPoints(recs []perftest.Record) timelinePoints {
	var p timelinePoints
	for _, r := range recs {
		due := r.Scheduled.Seconds()
		if r.Outcome != perftest.OK {
			p.failed = append(p.failed, plot.Point{X: due, Y: ms(r.Done)})
			continue
		}
		p.ttft = append(p.ttft, plot.Point{X: due, Y: ms(r.FirstToken)})
		if r.FirstOutput > r.FirstToken {
			p.ttfo = append(p.ttfo, plot.Point{X: due, Y: ms(r.FirstOutput)})
		}
		p.gaps += max(len(r.Tokens)-1, 0)
	}
	p.stride = max(1, (p.gaps+maxPoints-1)/maxPoints)
	p.itl = make([]plot.Point, 0, min(p.gaps, maxPoints)+1)
	k := 0
	for _, r := range recs {
		if r.Outcome != perftest.OK {
			continue
		}
		for j := 1; j < len(r.Tokens); j++ {
			reasoning := r.KindAt(j) == 'r'
			if reasoning {
				p.reasoningGaps++
			}
			if k%p.stride == 0 {
				pt := plot.Point{X: (r.Scheduled + r.Tokens[j]).Seconds(), Y: ms(r.Tokens[j] - r.Tokens[j-1])}
				if reasoning {
					p.itlReasoning = append(p.itlReasoning, pt)
				} else {
					p.itl = append(p.itl, pt)
				}
			}
			k++
		}
	}
	p.ttftStride = max(1, (len(p.ttft)+maxPoints-1)/maxPoints)
	p.ttft, p.ttfo = every(p.ttft, p.ttftStride), every(p.ttfo, p.ttftStride)
	return p
}

// serverPoints are the server's waiting requests and KV-cache usage (in %) over time.
func serverPoints(samples []ServerSample) (waiting, kv []plot.Point) {
	for _, s := range samples {
		if v, ok := s.Values["waiting"]; ok {
			waiting = append(waiting, plot.Point{X: s.At.Seconds(), Y: v})
		}
		if v, ok := s.Values["kv-usage"]; ok {
			kv = append(kv, plot.Point{X: s.At.Seconds(), Y: 100 * v})
		}
	}
	return waiting, kv
}

// shareTimeAxis gives the charts one time axis: from 0 to the last event of any chart.
func shareTimeAxis(charts []*plot.Chart) {
	end := 0.0
	for _, c := range charts {
		for _, s := range c.Series {
			for _, p := range s.Points {
				end = max(end, p.X)
			}
		}
	}
	for _, c := range charts {
		c.XMin, c.XMax = 0, end
	}
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

func every(pts []plot.Point, k int) []plot.Point {
	if k <= 1 {
		return pts
	}
	var out []plot.Point
	for i := 0; i < len(pts); i += k {
		out = append(out, pts[i])
	}
	return out
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// inFlight is the number of requests between send and end over time, as a step line.
func inFlight(recs []perftest.Record) []plot.Point {
	type ev struct {
		t time.Duration
		d int
	}
	var evs []ev
	for _, r := range recs {
		if r.Outcome == perftest.Dropped {
			continue
		}
		evs = append(evs, ev{r.Scheduled + r.Sent, 1}, ev{r.Scheduled + r.Done, -1})
	}
	slices.SortFunc(evs, func(a, b ev) int {
		return cmp.Or(cmp.Compare(a.t, b.t), cmp.Compare(b.d, a.d))
	})
	pts := []plot.Point{{X: 0, Y: 0}}
	n := 0
	for _, e := range evs {
		n += e.d
		pts = append(pts, plot.Point{X: e.t.Seconds(), Y: float64(n)})
	}
	return pts
}

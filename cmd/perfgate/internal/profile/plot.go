package profile

import (
	"fmt"
	"math"
	"strconv"

	"github.com/perfgate/perfgate/perftest/plot"
)

// Plot writes a PNG of a profile run to path: TTFT against the prompt length with the fitted
// prefill curve, prefill throughput, the decode steps against the KV fraction with the fitted
// decode curve, and decode throughput against concurrency, one line per ISL.
func Plot(path string, r *Result) error {
	if r == nil || len(r.Prefill) == 0 {
		return fmt.Errorf("plot profile: no prefill points")
	}
	var isl, ttft, tput, fitX, fitY []float64
	for _, p := range r.Prefill {
		isl, ttft, tput = append(isl, float64(p.ISL)), append(ttft, p.MedianMS), append(tput, p.TokensPerSec)
	}
	hi := isl[len(isl)-1]
	for i := range 50 {
		x := hi * float64(i) / 49
		fitX, fitY = append(fitX, x), append(fitY, r.PrefillFit.At(x))
	}
	panels := []plot.Panel{
		{Title: "prefill (concurrency 1)", X: "prompt tokens", Y: "TTFT ms", Curves: []plot.Curve{
			{Name: "median TTFT", X: isl, Y: ttft, Points: true},
			{Name: fmt.Sprintf("fit (R² %.4f)", r.PrefillFit.R2), X: fitX, Y: fitY, Smooth: true}}},
		{Title: "prefill throughput", X: "prompt tokens", Y: "tokens/s", Curves: []plot.Curve{{Name: "ISL / TTFT", X: isl, Y: tput}}},
	}
	if len(r.Decode) > 0 {
		var us, gs, ux, uy []float64
		byISL := map[int]*plot.Curve{}
		var order []int
		for _, p := range r.Decode {
			if p.Saturated {
				continue
			}
			us, gs = append(us, p.KVFraction), append(gs, p.ITLms)
			l, ok := byISL[p.ISL]
			if !ok {
				l = &plot.Curve{Name: "ISL " + strconv.Itoa(p.ISL)}
				byISL[p.ISL] = l
				order = append(order, p.ISL)
			}
			l.X, l.Y = append(l.X, float64(p.Concurrency)), append(l.Y, p.TokensPerSec)
		}
		umax := 0.0
		for _, u := range us {
			umax = math.Max(umax, u)
		}
		for i := range 50 {
			u := umax * float64(i) / 49
			ux, uy = append(ux, u), append(uy, math.Max(r.Profile.DecodeMinMS, r.DecodeFit.At(u)))
		}
		panels = append(panels, plot.Panel{Title: "decode steps", X: "KV cache fraction", Y: "step ms", Curves: []plot.Curve{
			{Name: "measured (median of a burst)", X: us, Y: gs, Points: true},
			{Name: fmt.Sprintf("fit (R² %.4f)", r.DecodeFit.R2), X: ux, Y: uy, Smooth: true}}})
		dec := plot.Panel{Title: "decode throughput", X: "concurrency", Y: "output tokens/s"}
		for _, k := range order {
			l := byISL[k]
			// Sort by concurrency: the bisection point comes last.
			for i := 1; i < len(l.X); i++ {
				for j := i; j > 0 && l.X[j] < l.X[j-1]; j-- {
					l.X[j], l.X[j-1] = l.X[j-1], l.X[j]
					l.Y[j], l.Y[j-1] = l.Y[j-1], l.Y[j]
				}
			}
			dec.Curves = append(dec.Curves, *l)
		}
		if len(dec.Curves) > 0 {
			panels = append(panels, dec)
		}
	}
	return plot.Panels(path, panels...)
}

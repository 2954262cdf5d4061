package profile

import (
	"context"
	"fmt"
	"slices"
)

// prefillSweep measures prefill at concurrency 1 and fits res.PrefillFit, the profile's
// prefill_ms.
//
// A request's TTFT is its prefill steps plus an overhead: its trip through client, network
// and server, which grows with the prompt (JSON of token ids, tokenization, allocation). So
// every prompt is sent twice in a row: the second time the server's prefix cache holds all
// but its last few tokens (the usage's cached_tokens says how many), and TTFT(first) -
// TTFT(second) = prefill(x) - prefill(r), r the tokens recomputed, has no overhead and no
// intercept: it gives the slope and curvature. A prompt of MaxISL + y tokens takes two
// steps, so its difference holds one intercept more: that gives the intercept. A server
// without a prefix cache (no cached tokens) gets the plain fit of TTFT against the length,
// its intercept split by TTFT(MaxISL + y) - TTFT(y) = prefill(MaxISL) when plausible.
func prefillSweep(ctx context.Context, p Prober, opt Options, res *Result, seed *uint64) error {
	var single, double []prefillPair
	var xs, ys []float64
	cached := 0
	for _, x := range opt.ISLs {
		pairs, firsts, err := prefillRun(ctx, p, x, opt.PrefillRequests, seed)
		if err != nil {
			return err
		}
		pt := PrefillPoint{ISL: x, TTFTms: firsts, MedianMS: median(firsts)}
		pt.TokensPerSec = float64(x) / (pt.MedianMS / 1e3)
		res.Prefill = append(res.Prefill, pt)
		xs, ys = append(xs, float64(x)), append(ys, pt.MedianMS)
		for _, q := range pairs {
			if q.r < q.x/2 {
				cached++
			}
		}
		single = append(single, pairs...)
		opt.Logf("profile: prefill ISL %d: TTFT %.2f ms (%.0f tokens/s)", x, pt.MedianMS, pt.TokensPerSec)
	}
	plain, err := plainPrefillFit(xs, ys)
	if err != nil {
		return err
	}
	res.PrefillFit = plain
	B := opt.MaxISL
	var chunk []float64 // TTFT(B + y) - TTFT(y), plain
	for _, pt := range res.Prefill[:min(3, len(res.Prefill))] {
		pairs, firsts, err := prefillRun(ctx, p, B+pt.ISL, opt.PrefillRequests, seed)
		if err != nil {
			return err
		}
		double = append(double, pairs...)
		chunk = append(chunk, median(firsts)-pt.MedianMS)
		opt.Logf("profile: prefill ISL %d (two steps): TTFT %.2f ms", B+pt.ISL, median(firsts))
	}
	if 2*cached >= len(single) && len(single) >= 3 && len(double) > 0 {
		if fitDifferences(opt, res, single, double, xs, ys) {
			return nil
		}
	} else {
		opt.Logf("profile: prefill: the server reported cached tokens for %d of %d repeated prompts: fitting TTFT itself", cached, len(single))
	}
	// Plain fit: split the intercept with one full step of B tokens.
	res.ChunkMS = median(chunk)
	x := float64(B)
	a := res.ChunkMS - plain.Coef[1]*x - plain.Coef[2]*x*x
	if ov := plain.Coef[0] - a; a > 0 && ov >= 0 {
		res.PrefillFit.Coef[0], res.OverheadMS = a, ov
	} else {
		opt.Logf("profile: prefill: one step of %d tokens took %.2f ms, giving intercept %.3f ms: implausible (is the server's token budget per step --max-isl?); keeping the fitted intercept %.3f ms",
			B, res.ChunkMS, a, plain.Coef[0])
	}
	return nil
}

// prefillPair is one prompt sent twice in a row.
type prefillPair struct {
	x, r         int     // prompt tokens, tokens recomputed the second time
	first, again float64 // TTFT ms
}

// prefillRun sends requests prompts of x tokens, each twice in a row, one at a time, and
// returns the pairs whose first sending found nothing cached and the TTFTs of the first
// sendings.
func prefillRun(ctx context.Context, p Prober, x, requests int, seed *uint64) ([]prefillPair, []float64, error) {
	*seed++
	ts, err := p.Probe(ctx, Burst{ISL: x, OSL: 1, Concurrency: 1, Requests: 2 * requests, Repeat: 2, Seed: *seed})
	if err != nil {
		return nil, nil, fmt.Errorf("profile: prefill at ISL %d: %w", x, err)
	}
	slices.SortFunc(ts, func(a, b Timing) int { return a.Index - b.Index })
	var pairs []prefillPair
	var firsts []float64
	for i, t := range ts {
		if len(t.Tokens) == 0 || t.Index%2 != 0 {
			continue
		}
		firsts = append(firsts, ms(t.Tokens[0]-t.Sent))
		if i+1 < len(ts) && ts[i+1].Index == t.Index+1 && len(ts[i+1].Tokens) > 0 && t.Cached == 0 {
			u := ts[i+1]
			pairs = append(pairs, prefillPair{x: x, r: x - u.Cached, first: ms(t.Tokens[0] - t.Sent), again: ms(u.Tokens[0] - u.Sent)})
		}
	}
	if len(firsts) == 0 {
		return nil, nil, fmt.Errorf("profile: prefill at ISL %d: no request finished", x)
	}
	return pairs, firsts, nil
}

// plainPrefillFit fits the median TTFTs with a quadratic in the prompt length, or a line
// where the quadratic comes out concave.
func plainPrefillFit(xs, ys []float64) (Fit, error) {
	plain, err := FitPoly(xs, ys, 2)
	if err != nil {
		return Fit{}, fmt.Errorf("profile: prefill: %w", err)
	}
	if plain.Coef[2] < 0 {
		// A concave fit (noise on a nearly linear server) would go negative past the
		// measured range: a line is the better model there.
		if lin, err := FitPoly(xs, ys, 1); err == nil {
			plain = Fit{Coef: []float64{lin.Coef[0], lin.Coef[1], 0}, R2: lin.R2, N: lin.N}
		}
	}
	return plain, nil
}

// fitDifferences fits prefill_ms from the differences of the repeated prompts, the slope
// and curvature from the one-step prompts and the intercept from the two-step ones, and sets
// res's fit, overhead and step of MaxISL tokens; false when the fit is implausible.
func fitDifferences(opt Options, res *Result, single, double []prefillPair, xs, ys []float64) bool {
	b, c, ok := differenceSlope(single, opt.ISLs)
	if !ok {
		return false
	}
	B := opt.MaxISL
	a := differenceIntercept(single, double, opt.ISLs, B, b, c)
	var ov []float64
	for _, q := range single {
		r := float64(q.r)
		ov = append(ov, q.again-(a+b*r+c*r*r))
	}
	if a > 0 && b > 0 {
		res.PrefillFit = Fit{Coef: []float64{a, b, c}, N: len(single) + len(double), R2: r2(xs, ys, Fit{Coef: []float64{a + median(ov), b, c}})}
		res.OverheadMS = median(ov)
		res.ChunkMS = a + b*float64(B) + c*float64(B*B)
		return true
	}
	opt.Logf("profile: prefill: the cached-prompt differences give intercept %.3f ms, slope %.5g: implausible; using the plain fit", a, b)
	return false
}

// differenceSlope fits d = b (x - r) + c (x^2 - r^2): least squares through the origin on
// each pair's difference, the medians of each length's pairs taken first; false when the
// system is singular.
func differenceSlope(single []prefillPair, isls []int) (b, c float64, ok bool) {
	var s11, s12, s22, s1y, s2y float64
	for _, x := range isls {
		var d, u, v []float64
		for _, q := range single {
			if q.x == x {
				d = append(d, q.first-q.again)
				u = append(u, float64(q.x-q.r))
				v = append(v, float64(q.x*q.x-q.r*q.r))
			}
		}
		if len(d) == 0 {
			continue
		}
		dy, du, dv := median(d), median(u), median(v)
		s11, s12, s22, s1y, s2y = s11+du*du, s12+du*dv, s22+dv*dv, s1y+du*dy, s2y+dv*dy
	}
	det := s11*s22 - s12*s12
	if det == 0 {
		return 0, 0, false
	}
	b, c = (s1y*s22-s2y*s12)/det, (s2y*s11-s1y*s12)/det
	if c < 0 {
		b, c = s1y/s11, 0 // concave from noise: a line instead (see the plain fit)
	}
	return b, c, true
}

// differenceIntercept is the intercept of prefill_ms: the median over the two-step prompts
// of D(B+y) = a + b (B + y - r') + c (B^2 + y^2 - r'^2) less the slope's and curvature's
// part. Less d(B) = b (B - r) + c (B^2 - r^2) of the one-step prompt of B tokens where
// there is one, it is a + b (y - r' + r) + c (y^2 - r'^2 + r^2): the slope's error weighs
// on y tokens, not on B.
func differenceIntercept(single, double []prefillPair, isls []int, B int, b, c float64) float64 {
	var dB, rB []float64
	for _, q := range single {
		if q.x == B {
			dB, rB = append(dB, q.first-q.again), append(rB, float64(q.r))
		}
	}
	var as []float64
	for _, y0 := range isls {
		var d, rs []float64
		for _, q := range double {
			if q.x == B+y0 {
				d, rs = append(d, q.first-q.again), append(rs, float64(q.r))
			}
		}
		if len(d) == 0 {
			continue
		}
		y, r := float64(y0), median(rs)
		if len(dB) > 0 {
			r0 := median(rB)
			as = append(as, median(d)-median(dB)-b*(y-r+r0)-c*(y*y-r*r+r0*r0))
		} else {
			as = append(as, median(d)-b*(float64(B)+y-r)-c*(float64(B*B)+y*y-r*r))
		}
	}
	return median(as)
}

// r2 is the coefficient of determination of f on the points.
func r2(x, y []float64, f Fit) float64 {
	mean := 0.0
	for _, v := range y {
		mean += v / float64(len(y))
	}
	var res, tot float64
	for i := range x {
		d := y[i] - f.At(x[i])
		res += d * d
		tot += (y[i] - mean) * (y[i] - mean)
	}
	if tot == 0 {
		return 1
	}
	return 1 - res/tot
}

package gate

import (
	"math"
)

// crossWork bounds the multiply-adds of one crossProb: the grid is coarsened until the
// recursion fits, so that no look schedule (128 looks at most, see MaxLooks) costs more
// than a fraction of a second for the 65 levels of a crossing table.
const crossWork = 3e6

// crossProb is the probability that W(t_k) >= c sqrt(t_k) for some k, with W a standard
// Brownian motion, t the looks' information (ascending) and c the upper a quantile of the
// normal distribution: Armitage, McPherson and Rowe's recursion on the sub-probability of
// not having crossed yet, held as masses on a grid of cells of one width h for all looks.
// Each step moves the masses with the increment's normal law integrated over the target
// cells (differences of the normal CDF), so no probability is created or lost whatever h
// is against the increment's spread, and the chance of crossing at a look is summed from
// every mass with the normal tail, which keeps small probabilities' relative accuracy. h is
// a quarter of the smallest increment's standard deviation, coarsened only when the work
// would exceed crossWork. The result lies between a (the first look alone) and the
// Bonferroni bound len(t) x a, where it is clamped.
func crossProb(t []float64, a float64) float64 {
	if len(t) == 0 || a <= 0 || a >= 1 {
		return min(1, max(0, a))
	}
	c := -stdNormal.InvCDF(a)
	tMax := t[len(t)-1]
	lo := -9 * math.Sqrt(tMax)
	hi := max(0, c) * math.Sqrt(tMax)
	h := crossGrid(t, c)
	n := int(math.Ceil((hi-lo)/h)) + 1
	centre := func(j int) float64 { return lo + (float64(j)+0.5)*h }
	cell := func(x float64) int { return int(math.Floor((x - lo) / h)) }

	// The first look: W(t_0) ~ N(0, t_0); P(W(t_0) >= c sqrt(t_0)) = a.
	m := make([]float64, n)
	s0 := math.Sqrt(t[0])
	b := c * s0
	from, to := max(0, cell(-9*s0)), min(n-1, cell(b))
	for j := from; j <= to; j++ {
		l, u := centre(j)-h/2, min(centre(j)+h/2, b)
		if u > l {
			m[j] = upper((l)/s0) - upper(u/s0)
		}
	}
	total := a
	next := make([]float64, n)
	for k := 1; k < len(t); k++ {
		dt := t[k] - t[k-1]
		if dt <= 0 {
			continue
		}
		// Masses held at cell centres carry h^2/12 more variance than the law they stand
		// for (Sheppard's correction): the step takes it off the increment's.
		sd := math.Sqrt(max(dt-h*h/12, dt/2))
		b = c * math.Sqrt(t[k])
		for i := from; i <= to; i++ {
			if m[i] > 0 {
				total += m[i] * upper((b-centre(i))/sd)
			}
		}
		w := int(math.Ceil(8 * sd / h))
		kern := kernel(w, h, sd)
		nfrom := max(0, from-w, cell(-9*math.Sqrt(t[k])))
		nto := min(n-1, to+w, cell(b))
		clear(next)
		for j := nfrom; j <= nto; j++ {
			if centre(j)+h/2 > b {
				// The cell the boundary cuts: only the part below it continues.
				l := centre(j) - h/2
				v := 0.0
				for i := max(from, j-w); i <= to; i++ {
					v += m[i] * (upper((l-centre(i))/sd) - upper((b-centre(i))/sd))
				}
				next[j] = v
				continue
			}
			v := 0.0
			for i := max(from, j-w); i <= min(to, j+w); i++ {
				v += m[i] * kern[j-i+w]
			}
			next[j] = v
		}
		m, next = next, m
		from, to = nfrom, nto
	}
	return min(1, float64(len(t))*a, max(a, total))
}

// crossGrid returns the cell width: a quarter of the smallest increment's standard
// deviation (the first look's is sqrt(t_0)), widened until the recursion's work, cells
// times kernel width summed over the looks, is within crossWork.
func crossGrid(t []float64, c float64) float64 {
	sdMin := math.Sqrt(t[0])
	for k := 1; k < len(t); k++ {
		if dt := t[k] - t[k-1]; dt > 0 {
			sdMin = min(sdMin, math.Sqrt(dt))
		}
	}
	h := sdMin / 4
	work := func(h float64) float64 {
		w := 0.0
		for k := 1; k < len(t); k++ {
			dt := t[k] - t[k-1]
			if dt <= 0 {
				continue
			}
			cells := (max(0, c) + 9) * math.Sqrt(t[k]) / h
			w += cells * min(cells, 2*8*math.Sqrt(dt)/h+1)
		}
		return w
	}
	for work(h) > crossWork {
		h *= 1.25
	}
	return h
}

// kernel is the chance that a normal increment of standard deviation sd moves a mass by
// d cells of width h, for d from -w to w (index d+w), as a difference of tails so that
// the far cells keep their relative accuracy.
func kernel(w int, h, sd float64) []float64 {
	k := make([]float64, 2*w+1)
	for d := 0; d <= w; d++ {
		var p float64
		if d == 0 {
			p = 1 - 2*upper(h/2/sd)
		} else {
			p = upper((float64(d)-0.5)*h/sd) - upper((float64(d)+0.5)*h/sd)
		}
		k[w+d], k[w-d] = p, p
	}
	return k
}

// upper is the standard normal upper tail, P(Z >= x).
func upper(x float64) float64 { return 0.5 * math.Erfc(x/math.Sqrt2) }

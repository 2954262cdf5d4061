package profile

import (
	"errors"
	"fmt"
	"math"
)

// Fit is a least-squares polynomial fit.
type Fit struct {
	// Coef are the coefficients, lowest order first: Coef[0] + Coef[1]*x + Coef[2]*x^2 ...
	Coef []float64 `json:"coef"`
	// R2 is the coefficient of determination of the fit on its points.
	R2 float64 `json:"r2"`
	// N is the number of points.
	N int `json:"n"`
}

// At evaluates the fitted polynomial at x.
func (f Fit) At(x float64) float64 {
	v := 0.0
	for i := len(f.Coef) - 1; i >= 0; i-- {
		v = v*x + f.Coef[i]
	}
	return v
}

// FitPoly fits a polynomial of the given degree to the points (x[i], y[i]) by least squares.
// The x values are scaled to [-1, 1] for the solve, so that x up to tens of thousands and
// x^2 stay well conditioned.
func FitPoly(x, y []float64, degree int) (Fit, error) {
	n := degree + 1
	if len(x) != len(y) {
		return Fit{}, fmt.Errorf("fit: %d x values, %d y values", len(x), len(y))
	}
	if len(x) < n {
		return Fit{}, fmt.Errorf("fit: %d points for a polynomial of degree %d (need %d)", len(x), degree, n)
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range x {
		lo, hi = min(lo, v), max(hi, v)
	}
	if lo == hi {
		return Fit{}, errors.New("fit: all points at one x")
	}
	mid, half := (lo+hi)/2, (hi-lo)/2
	// Normal equations on t = (x - mid) / half.
	a := make([][]float64, n)
	for i := range a {
		a[i] = make([]float64, n+1)
	}
	for k := range x {
		t := (x[k] - mid) / half
		pow := make([]float64, 2*n)
		pow[0] = 1
		for i := 1; i < 2*n; i++ {
			pow[i] = pow[i-1] * t
		}
		for i := range n {
			for j := range n {
				a[i][j] += pow[i+j]
			}
			a[i][n] += pow[i] * y[k]
		}
	}
	c, err := solve(a)
	if err != nil {
		return Fit{}, err
	}
	// Expand sum c_i ((x - mid)/half)^i into powers of x.
	coef := make([]float64, n)
	for i, ci := range c {
		// ((x - mid)/half)^i = sum_j binom(i, j) x^j (-mid)^(i-j) / half^i
		for j := 0; j <= i; j++ {
			coef[j] += ci * binom(i, j) * math.Pow(-mid, float64(i-j)) / math.Pow(half, float64(i))
		}
	}
	f := Fit{Coef: coef, N: len(x)}
	mean := 0.0
	for _, v := range y {
		mean += v / float64(len(y))
	}
	var ssRes, ssTot float64
	for k := range x {
		d := y[k] - f.At(x[k])
		ssRes += d * d
		ssTot += (y[k] - mean) * (y[k] - mean)
	}
	f.R2 = 1
	if ssTot > 0 {
		f.R2 = 1 - ssRes/ssTot
	}
	return f, nil
}

func binom(n, k int) float64 {
	r := 1.0
	for i := 1; i <= k; i++ {
		r = r * float64(n-k+i) / float64(i)
	}
	return r
}

// solve solves the augmented system a (n rows of n+1) by Gaussian elimination with partial
// pivoting.
func solve(a [][]float64) ([]float64, error) {
	n := len(a)
	for col := range n {
		p := col
		for r := col + 1; r < n; r++ {
			if math.Abs(a[r][col]) > math.Abs(a[p][col]) {
				p = r
			}
		}
		if math.Abs(a[p][col]) < 1e-12 {
			return nil, errors.New("fit: the points do not determine the polynomial (too few distinct x values)")
		}
		a[col], a[p] = a[p], a[col]
		for r := col + 1; r < n; r++ {
			f := a[r][col] / a[col][col]
			for c := col; c <= n; c++ {
				a[r][c] -= f * a[col][c]
			}
		}
	}
	x := make([]float64, n)
	for r := n - 1; r >= 0; r-- {
		s := a[r][n]
		for c := r + 1; c < n; c++ {
			s -= a[r][c] * x[c]
		}
		x[r] = s / a[r][r]
	}
	return x, nil
}

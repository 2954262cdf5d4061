package gate

//go:generate go run mktables.go

import (
	_ "embed"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/aclements/go-moremath/stats"
)

// MDE is the minimum detectable effect of one metric: the smallest relative regression a
// comparison with n1 baseline and n2 current repetitions calls a REGRESSION with probability
// MDEPower, given
//
//   - alpha, the two-sided level the metric's U test must reach when it regresses alone
//     (2 x Alpha / m for m metrics under Holm's correction: the conservative case, since
//     Holm is less strict when several metrics move together),
//   - threshold, the relative change the medians must also exceed, and
//   - sigma, the run-to-run spread relative to the baseline median as measured on the two
//     samples (robust.Sigma over both).
//
// The model is a location shift with normal noise. The measured sigma is divided by the
// estimator's mean at these sizes (a median absolute deviation from each sample's own
// median runs small in small samples). A regression is detected when the U test is
// significant and the median difference exceeds the threshold; the shift at which each
// condition alone holds with probability MDEPower (sigShift, medShift) come from tables
// that mktables.go computes by simulation for up to 30 repetitions a side (mdetable.txt), and from
// the normal approximations of the U test's power and the median's spread beyond; the two
// are combined as (sigShift^8 + medShift^8)^(1/8), which mktables.go checks against the
// exact simulated joint condition (within a few percent). The result is +Inf when no shift
// can reach significance (too few repetitions) and the threshold itself when sigma is 0.
func MDE(n1, n2 int, alpha, threshold, sigma float64) float64 {
	u := uCritical(n1, n2, alpha)
	if u < 0 {
		return math.Inf(1)
	}
	s := sigma / sigmaScale(n1, n2)
	if !(s > 0) {
		return threshold
	}
	sig, med := shifts(n1, n2, u, alpha)
	med += threshold / s
	return s * math.Pow(math.Pow(sig, 8)+math.Pow(med, 8), 1.0/8)
}

// z80 is the standard normal quantile at MDEPower.
var z80 = stats.NormalDist{Mu: 0, Sigma: 1}.InvCDF(MDEPower)

// sigmaScale is the mean of robust.Sigma over two standard normal samples of these sizes.
func sigmaScale(n1, n2 int) float64 {
	if row := mdeRow(n1, n2); row != nil {
		return row.scale
	}
	return 1 - 2/float64(n1+n2)
}

// shifts returns, in units of sigma, the shift that makes the U test significant at
// critical value u (two-sided level alpha) with probability MDEPower, and the 80% quantile
// of the baseline's median minus the current one's with no shift.
func shifts(n1, n2, u int, alpha float64) (sig, med float64) {
	row := mdeRow(n1, n2)
	if row == nil {
		k := math.Sqrt(1/float64(n1) + 1/float64(n2))
		zAlpha := stats.NormalDist{Mu: 0, Sigma: 1}.InvCDF(1 - alpha/2)
		// The U test's asymptotic efficiency against a t test under normal noise is 3/pi.
		return (zAlpha + z80) * k * math.Sqrt(math.Pi/3), z80 * k * math.Sqrt(math.Pi/2)
	}
	// Interpolate between the tabulated critical values.
	i := sort.SearchInts(row.u, u)
	switch {
	case i == len(row.u):
		sig = row.sig[len(row.sig)-1]
	case row.u[i] == u || i == 0:
		sig = row.sig[i]
	default:
		f := float64(u-row.u[i-1]) / float64(row.u[i]-row.u[i-1])
		sig = row.sig[i-1] + f*(row.sig[i]-row.sig[i-1])
	}
	return sig, row.med
}

// mdeTableRow holds the simulated figures of one pair of sample sizes.
type mdeTableRow struct {
	scale float64   // mean robust sigma of two N(0,1) samples
	med   float64   // 80% quantile of median(base) - median(cur), unshifted
	u     []int     // critical U values, increasing
	sig   []float64 // 80% quantile of the shift that makes U <= u[i]
}

// mdeTableText is written by mktables.go (go generate); a diff of it shows every figure.
//
//go:embed mdetable.txt
var mdeTableText string

var (
	mdeOnce  sync.Once
	mdeTable map[[2]int]*mdeTableRow // n1 <= n2
)

// mdeRow returns the table row for n1 and n2 repetitions (in either order), or nil beyond
// the table.
func mdeRow(n1, n2 int) *mdeTableRow {
	mdeOnce.Do(func() { mdeTable = parseMDETable(mdeTableText) })
	if n1 > n2 {
		n1, n2 = n2, n1
	}
	return mdeTable[[2]int{n1, n2}]
}

// parseMDETable reads mdetable.txt: "n1 n2 scale med u:sig ..." a line, # for comments. The
// table is part of the package, so a malformed line is a build defect: it panics.
func parseMDETable(text string) map[[2]int]*mdeTableRow {
	t := map[[2]int]*mdeTableRow{}
	for i, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		bad := func(err error) { panic(fmt.Sprintf("gate: mdetable.txt:%d: %v", i+1, err)) }
		num := func(s string) float64 {
			v, err := strconv.ParseFloat(s, 64)
			if err != nil {
				bad(err)
			}
			return v
		}
		if len(f) < 5 {
			bad(fmt.Errorf("%d fields", len(f)))
		}
		row := &mdeTableRow{scale: num(f[2]), med: num(f[3])}
		for _, p := range f[4:] {
			u, s, ok := strings.Cut(p, ":")
			if !ok {
				bad(fmt.Errorf("%q is not u:sig", p))
			}
			row.u = append(row.u, int(num(u)))
			row.sig = append(row.sig, num(s))
		}
		t[[2]int{int(num(f[0])), int(num(f[1]))}] = row
	}
	return t
}

type uKey struct {
	n1, n2 int
	alpha  float64
}

var uCache sync.Map // uKey -> int

// uCritical is the largest U statistic whose exact two-sided p-value (no ties) is below
// alpha, or -1 when even full separation is not significant. Beyond 50 a side it uses the
// normal approximation, as stats.MannWhitneyUTest does.
func uCritical(n1, n2 int, alpha float64) int {
	if n1 == 0 || n2 == 0 || 2*MinP(n1, n2) >= alpha {
		return -1
	}
	if n1 > stats.MannWhitneyExactLimit || n2 > stats.MannWhitneyExactLimit {
		mu := float64(n1*n2) / 2
		sd := math.Sqrt(float64(n1*n2*(n1+n2+1)) / 12)
		z := stats.NormalDist{Mu: 0, Sigma: 1}.InvCDF(alpha / 2)
		return max(-1, int(math.Floor(mu+z*sd-0.5)))
	}
	key := uKey{n1, n2, alpha}
	if v, ok := uCache.Load(key); ok {
		return v.(int)
	}
	dist := stats.UDist{N1: n1, N2: n2}
	// The largest u with 2 CDF(u) < alpha: CDF grows with u.
	u := sort.Search(n1*n2/2+1, func(u int) bool { return 2*dist.CDF(float64(u)) >= alpha }) - 1
	uCache.Store(key, u)
	return u
}

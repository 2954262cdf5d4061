package perftest

import (
	"strings"
	"testing"
	"time"

	"github.com/perfgate/perfgate/perftest/progress"
)

// DefaultConcurrencies is the concurrency list of Dynamo's benchmark sweeps.
var DefaultConcurrencies = []int{1, 2, 5, 10, 50, 100, 250}

// ConcurrencySweep returns closed-loop loads for the given concurrencies
// (DefaultConcurrencies when none are given).
func ConcurrencySweep(ns ...int) []Load {
	if len(ns) == 0 {
		ns = DefaultConcurrencies
	}
	loads := make([]Load, len(ns))
	for i, n := range ns {
		loads[i] = Concurrency(n)
	}
	return loads
}

// RateSweep returns open-loop Poisson loads for the given rates.
func RateSweep(rates ...float64) []Load {
	loads := make([]Load, len(rates))
	for i, r := range rates {
		loads[i] = PoissonRate(r)
	}
	return loads
}

// Sweep runs the case once per load, each as a subtest named by its load, and returns the
// results in the loads' order (nil for a point that did not finish). A point's result is
// named CASE/LOAD (e.g. PerfChat/concurrency=16), so -perf.out writes one file per point
// and benchstat reads the load as a sub-benchmark key. Package plot draws the results.
func Sweep(t *testing.T, c Case, loads ...Load) []*Result {
	t.Helper()
	if len(loads) == 0 {
		t.Fatal("perftest: Sweep needs at least one load (e.g. perftest.ConcurrencySweep())")
	}
	base := c.Name
	if base == "" {
		base = strings.TrimPrefix(t.Name(), "Test")
	}
	results := make([]*Result, len(loads))
	meter := progress.NewMeter(base+": sweep point", len(loads), time.Now())
	var requests, failed int64
	for i, l := range loads {
		meter.StartStep(requests)
		t.Run(configValue(l.String()), func(t *testing.T) {
			p := c
			p.Load = l
			p.Name = base + "/" + l.String()
			results[i] = Run(t, p)
		})
		if r := results[i]; r != nil {
			for _, rep := range r.Reps {
				requests += int64(rep.Requests)
				failed += int64(rep.Requests - rep.Outcomes[OK])
			}
		}
		st := meter.State(time.Now(), requests, failed, true)
		st.Detail = l.String()
		t.Logf("perftest: %s", st)
	}
	return results
}

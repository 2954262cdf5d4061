package perftest

import (
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"text/tabwriter"

	"github.com/stretchr/testify/assert"

	"github.com/perfgate/perfgate/perftest/gate"
	"github.com/perfgate/perfgate/perftest/metric"
	"github.com/perfgate/perfgate/perftest/resultfile"
)

func fmtMDE(v float64) string {
	switch {
	case math.IsNaN(v):
		return "n/a"
	case math.IsInf(v, 1):
		return "none"
	case v < 0.1:
		return fmt.Sprintf("%.1f%%", 100*v)
	}
	return fmt.Sprintf("%.0f%%", 100*v)
}

var flagPower = flag.Bool("perf.power", false, "run the full power self-test (TestPowerTable) and print its table")

// powerMetrics are the quickstart case's 15 metrics with their medians from
// baselines/cpu/PerfQuickstart.txt.
var powerMetrics = []struct {
	unit   string
	centre float64
}{
	{"ttft-p50-sec", 0.0200}, {"ttft-p90-sec", 0.0215}, {"ttft-p99-sec", 0.0218},
	{"itl-p50-sec", 0.00333}, {"itl-p90-sec", 0.00353}, {"itl-p99-sec", 0.00440},
	{"tpot-p50-sec", 0.00331}, {"tpot-p90-sec", 0.00353}, {"tpot-p99-sec", 0.00362},
	{"e2e-p50-sec", 0.1227}, {"e2e-p90-sec", 0.1232}, {"e2e-p99-sec", 0.1240},
	{"req/s", 65.2}, {"tok/s", 2087}, {"error-rate", 0},
}

// powerRun draws one synthetic run of the quickstart case: n repetitions, each metric its
// centre times (1 + noise x (rho g + sqrt(1-rho^2) e)) with g a per-repetition factor shared
// by all metrics (the machine was a little slower for that repetition: latencies up, rates
// down) and e the metric's own noise, both standard normal, so every metric has the given
// run-to-run spread. error-rate stays 0, as on the simulator. The metrics whose index
// shifted (if not nil) reports are made worse by the relative amount shift.
func powerRun(rng *rand.Rand, n int, noise float64, shifted func(int) bool, shift float64) *resultfile.File {
	const rho = 0.6
	rf := &resultfile.File{Name: "PerfQuickstart", LowerBetter: map[string]bool{}}
	for _, m := range powerMetrics {
		rf.Units = append(rf.Units, m.unit)
		rf.LowerBetter[m.unit] = metric.Default().LowerBetter(m.unit)
	}
	for range n {
		var rep resultfile.Rep
		g := rng.NormFloat64()
		for i, m := range powerMetrics {
			lower := rf.LowerBetter[m.unit]
			e := noise * (rho*g + math.Sqrt(1-rho*rho)*rng.NormFloat64())
			if !lower {
				e = -e
			}
			v := m.centre * (1 + e)
			if shifted != nil && shifted(i) {
				if lower {
					v *= 1 + shift
				} else {
					v *= 1 - shift
				}
			}
			rep.Metrics = append(rep.Metrics, resultfile.Metric{Unit: m.unit, Value: v})
		}
		rf.Reps = append(rf.Reps, rep)
	}
	return rf
}

// powerCell is the outcome of many trials at one count and injected shift.
type powerCell struct {
	count       int
	shift       float64
	trials      int
	detected    int        // trials whose shifted metric was called a REGRESSION
	byClass     [3][2]int  // detected, trials for p50 and rates / p90 / p99
	falseAlarms int        // trials where an unshifted metric was called a REGRESSION
	mde         [3]float64 // mean MDE of the shifted metric per class
}

func metricClass(unit string) int {
	switch {
	case strings.Contains(unit, "-p90-"):
		return 1
	case strings.Contains(unit, "-p99-"):
		return 2
	}
	return 0
}

// powerSimulate runs trials comparisons per cell through gate.Compare.
// Trial i shifts metric i mod 14 (every metric but error-rate, whose centre is 0).
func powerSimulate(counts []int, shifts []float64, trials int, noise float64, opt gate.Options) []powerCell {
	var cells []powerCell
	for _, n := range counts {
		for _, s := range shifts {
			c := powerCell{count: n, shift: s, trials: trials}
			rng := rand.New(rand.NewPCG(uint64(n), math.Float64bits(s)))
			var mdeSum [3]float64
			for i := range trials {
				target := i % (len(powerMetrics) - 1)
				base := powerRun(rng, n, noise, nil, 0)
				cur := powerRun(rng, n, noise, func(i int) bool { return i == target }, s)
				rep := gate.Compare(base, cur, opt)
				alarm := false
				for j, d := range rep.Deltas {
					if j == target {
						cl := metricClass(d.Unit)
						c.byClass[cl][1]++
						mdeSum[cl] += d.MDE
						if d.Verdict == gate.Regression {
							c.detected++
							c.byClass[cl][0]++
						}
						continue
					}
					if d.Verdict == gate.Regression {
						alarm = true
					}
				}
				if alarm {
					c.falseAlarms++
				}
			}
			for cl := range mdeSum {
				c.mde[cl] = mdeSum[cl] / float64(c.byClass[cl][1])
			}
			cells = append(cells, c)
		}
	}
	return cells
}

// decodeGroup is what a slower decode moves in the quickstart case: every itl, tpot and
// e2e percentile up, req/s and tok/s down (indices into powerMetrics); TTFT and error-rate
// stay.
func decodeGroup(i int) bool { return i >= 3 && i <= 13 }

// powerGroup injects shift into the whole decode group at once, as a real slowdown does,
// and returns the mean fraction of the group's metrics called a REGRESSION, the rate of
// trials where at least one of them was (the case fails), and the rate of trials with a
// false alarm on the other metrics.
func powerGroup(n int, shift float64, trials int, noise float64, opt gate.Options) (detected, caught, falseAlarms float64) {
	rng := rand.New(rand.NewPCG(uint64(n)+1000, math.Float64bits(shift)))
	for range trials {
		rep := gate.Compare(powerRun(rng, n, noise, nil, 0), powerRun(rng, n, noise, decodeGroup, shift), opt)
		hits, alarm := 0, false
		for i, d := range rep.Deltas {
			switch {
			case decodeGroup(i) && d.Verdict == gate.Regression:
				hits++
			case !decodeGroup(i) && d.Verdict == gate.Regression:
				alarm = true
			}
		}
		detected += float64(hits) / 11 / float64(trials)
		if hits > 0 {
			caught += 1 / float64(trials)
		}
		if alarm {
			falseAlarms += 1 / float64(trials)
		}
	}
	return detected, caught, falseAlarms
}

func writePowerTable(w io.Writer, cells []powerCell) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "count\tregression\tdetected\tp50+rates\tp90\tp99\tfalse alarms/case\tMDE p50/p90/p99\t")
	pct := func(a, b int) string { return fmt.Sprintf("%.1f%%", 100*float64(a)/float64(b)) }
	for _, c := range cells {
		det, p50, p90, p99 := "-", "-", "-", "-"
		if c.shift > 0 {
			det = pct(c.detected, c.trials)
			p50, p90, p99 = pct(c.byClass[0][0], c.byClass[0][1]), pct(c.byClass[1][0], c.byClass[1][1]), pct(c.byClass[2][0], c.byClass[2][1])
		}
		fmt.Fprintf(tw, "%d\t%.0f%%\t%s\t%s\t%s\t%s\t%s\t%s/%s/%s\t\n", c.count, 100*c.shift, det, p50, p90, p99, pct(c.falseAlarms, c.trials),
			fmtMDE(c.mde[0]), fmtMDE(c.mde[1]), fmtMDE(c.mde[2]))
	}
	tw.Flush()
}

// TestPowerTable is the gate's power self-test: synthetic runs shaped like the quickstart
// case (15 metrics, 3% run-to-run noise, seeded), regressions of 0, 2, 5 and 10% injected
// into one metric per trial (each of the 14 non-zero metrics in turn), judged by the same
// gate.Compare the gate uses, once with the default thresholds and once with a uniform 3%
// threshold (-perf.threshold 0.03). It prints detection and family-wise false-alarm rates
// per repetition count; the tables are in docs/gate.md ("Gate statistics and power"):
//
//	go test -run TestPowerTable -v ./perftest -perf.power
//
// Without -perf.power it runs a small version (count 10 only) and checks the same aims.
func TestPowerTable(t *testing.T) {
	counts, shifts, trials := []int{6, 10, 20}, []float64{0, 0.02, 0.05, 0.10}, 1400
	if !*flagPower {
		counts, shifts, trials = []int{10}, []float64{0, 0.10}, 98
	}
	for _, cfg := range []struct {
		name      string
		threshold float64
	}{
		{"default thresholds (5% medians and rates, 8% p90, 12% p99)", 0},
		{"-perf.threshold 0.03", 0.03},
	} {
		opt := GateOptions(0, cfg.threshold)
		cells := powerSimulate(counts, shifts, trials, 0.03, opt)
		var sb strings.Builder
		writePowerTable(&sb, cells)
		t.Logf("power of the gate with %s; %d trials per row, 3%% noise, the quickstart's 15 metrics:\n%s", cfg.name, trials, sb.String())
		if *flagPower {
			for _, shift := range []float64{0.05, 0.10} {
				det, caught, fa := powerGroup(10, shift, trials, 0.03, opt)
				t.Logf("%s: count 10, a %.0f%% decode slowdown moving 11 metrics together: case failed in %.1f%% of trials, %.1f%% of the 11 flagged, false alarms on the others %.1f%%",
					cfg.name, 100*shift, 100*caught, 100*det, 100*fa)
			}
		}
		for _, c := range cells {
			if c.count != 10 {
				continue
			}
			all := float64(c.detected) / float64(c.trials)
			p50 := float64(c.byClass[0][0]) / float64(c.byClass[0][1])
			switch {
			case c.shift == 0.10 && cfg.threshold == 0:
				// The 12% p99 threshold is above a 10% regression by design.
				assert.GreaterOrEqual(t, p50, 0.95, "count 10, default thresholds: medians and rates must catch a 10%% regression")
			case c.shift == 0.10:
				assert.GreaterOrEqual(t, all, 0.95, "count 10, 3%% thresholds: every metric must catch a 10%% regression")
			case c.shift == 0.05 && cfg.threshold > 0:
				// Not the 80% aimed for: a metric regressing alone must reach p < alpha/15,
				// which at 3% noise and 10 repetitions a side takes about 5.8% (the MDE
				// column); see docs/gate.md.
				assert.GreaterOrEqual(t, all, 0.55, "count 10, 3%% thresholds: most 5%% regressions")
			}
			assert.LessOrEqual(t, float64(c.falseAlarms)/float64(c.trials), 0.05, "family-wise false alarms per case")
		}
	}
}

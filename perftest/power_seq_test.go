package perftest

import (
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

// seqCell is the outcome of many sequential trials of one design and injected shift.
type seqCell struct {
	design      string
	shift       float64
	trials      int
	detected    int // the shifted metric was a REGRESSION when the run stopped
	falseAlarms int // another metric was
	reps        int // repetitions of the current run at the stop, summed
}

// prefixFile is the first n repetitions of f.
func prefixFile(f *resultfile.File, n int) *resultfile.File {
	g := *f
	g.Reps = f.Reps[:min(n, len(f.Reps))]
	return &g
}

// runSequential plays one sequential comparison on pre-drawn runs: it looks at each of
// the design's looks in turn (the baseline growing too when paired, else whole) and
// stops as the gate does. It returns the report at the stop and the current run's count.
func runSequential(base, cur *resultfile.File, looks []int, least int, paired bool, opt gate.Options) (*gate.Report, int) {
	seq := &gate.Sequential{Looks: looks, Least: least, Paired: paired}
	opt.Sequential = seq
	for _, n := range looks {
		b := base
		if paired {
			b = prefixFile(base, n)
		}
		rep := gate.Compare(b, prefixFile(cur, n), opt)
		if seq.Decide(rep, n) {
			return rep, n
		}
	}
	panic("the last look decides")
}

// powerSequential runs trials sequential comparisons of the quickstart-shaped runs
// (powerRun), with one metric regressing alone by shift in each trial (each of the 14 in
// turn; none with shift 0).
func powerSequential(design string, looks []int, paired bool, shift float64, trials int, noise float64, opt gate.Options) seqCell {
	return powerSequentialLeast(design, looks, 0, paired, shift, trials, noise, opt)
}

// powerSequentialLeast is powerSequential for a design whose looks before least stop only at
// the no-change boundary or on a regression.
func powerSequentialLeast(design string, looks []int, least int, paired bool, shift float64, trials int, noise float64, opt gate.Options) seqCell {
	c := seqCell{design: design, shift: shift, trials: trials}
	most := looks[len(looks)-1]
	rng := rand.New(rand.NewPCG(uint64(len(looks))*7+boolSeed(paired), math.Float64bits(shift)))
	for i := range trials {
		target := i % (len(powerMetrics) - 1)
		base := powerRun(rng, most, noise, nil, 0)
		cur := powerRun(rng, most, noise, func(j int) bool { return shift > 0 && j == target }, shift)
		rep, n := runSequential(base, cur, looks, least, paired, opt)
		c.reps += n
		alarm := false
		for j, d := range rep.Deltas {
			switch {
			case d.Verdict != gate.Regression:
			case shift > 0 && j == target:
				c.detected++
			default:
				alarm = true
			}
		}
		if alarm {
			c.falseAlarms++
		}
	}
	return c
}

func boolSeed(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

func writeSeqTable(w io.Writer, cells []seqCell) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "design\tregression\tdetected\tfalse alarms/case\tmean repetitions (current)\t")
	for _, c := range cells {
		det := "-"
		if c.shift > 0 {
			det = fmt.Sprintf("%.1f%%", 100*float64(c.detected)/float64(c.trials))
		}
		fmt.Fprintf(tw, "%s\t%.0f%%\t%s\t%.1f%%\t%.1f\t\n", c.design, 100*c.shift, det, 100*float64(c.falseAlarms)/float64(c.trials), float64(c.reps)/float64(c.trials))
	}
	tw.Flush()
}

// TestPowerSequential is the power self-test of the sequential design: the quickstart's
// 15 metrics at 3% noise, -perf.threshold 0.03, a metric regressing alone by 0, 5 or 10%,
// judged look by look as the gate does (-perf.count 10, -perf.max-count 30: looks at 10,
// 15, 20, 25, 30), both sides growing (AB) and against a baseline recorded at 30
// repetitions (the gate; -perf.update records at the most). The table is in docs/gate.md:
//
//	go test -run TestPowerSequential -v ./perftest -perf.power
//
// Without -perf.power it runs fewer trials and checks the aims for the A/B design.
func TestPowerSequential(t *testing.T) {
	trials := 140
	if *flagPower {
		trials = 1400
	}
	opt := GateOptions(0, 0.03)
	looks := Case{Count: 10, MaxCount: 30}.looks()
	var cells []seqCell
	for _, d := range []struct {
		name   string
		paired bool
	}{{"A/B, both sides 10..30", true}, {"gate, baseline of 30, current 10..30", false}} {
		for _, shift := range []float64{0, 0.05, 0.10} {
			cells = append(cells, powerSequential(d.name, looks, d.paired, shift, trials, 0.03, opt))
		}
	}
	var sb strings.Builder
	writeSeqTable(&sb, cells)
	t.Logf("sequential design, %d trials per row, 3%% noise, -perf.threshold 0.03, the quickstart's 15 metrics:\n%s", trials, sb.String())
	for _, c := range cells {
		rate := float64(c.detected) / float64(c.trials)
		mean := float64(c.reps) / float64(c.trials)
		assert.LessOrEqual(t, float64(c.falseAlarms)/float64(c.trials), 0.05, "%s %.0f%%: family-wise false alarms per case", c.design, 100*c.shift)
		if !strings.HasPrefix(c.design, "A/B") {
			continue
		}
		switch c.shift {
		case 0.05:
			assert.GreaterOrEqual(t, rate, 0.80, "%s: a 5%% regression alone", c.design)
			assert.LessOrEqual(t, mean, 16.0, "%s: 5%%: mean repetitions a side", c.design)
		case 0.10:
			assert.GreaterOrEqual(t, rate, 0.95, "%s: a 10%% regression alone", c.design)
			assert.LessOrEqual(t, mean, 12.0, "%s: 10%%: mean repetitions a side", c.design)
		}
	}
}

// busyFigures are machine figures of a quiet and a busy 2-core machine (two busy-loop
// processes beside the test), as the probe records them.
var busyFigures = map[bool]map[string]float64{
	false: {metric.MachineOthersCPU: 0.05, metric.MachinePressure: 0.02, metric.MachineSteal: 0,
		metric.MachineWakeP50: 60e-6, metric.MachineWakeP90: 120e-6, metric.MachineWakeP99: 300e-6, metric.MachineWakeMean: 80e-6},
	true: {metric.MachineOthersCPU: 1.9, metric.MachinePressure: 0.6, metric.MachineSteal: 0,
		metric.MachineWakeP50: 100e-6, metric.MachineWakeP90: 600e-6, metric.MachineWakeP99: 4e-3, metric.MachineWakeMean: 300e-6},
}

// withMachine adds machine figures (10% noise) to every repetition of f and, for a busy
// machine, the delays it brings as the noise model of machine.Compare has them, at most:
// a gap between tokens (itl-*) grows by two of its three wake-up delays at its quantile,
// a latency made of steps (ttft, tpot, e2e) by 70% of the mean delay on each step it
// spans, rates fall as e2e-p50 grows; each with 25% noise of its own, clipped to 0.5-1.4x
// so that it stays within what the model explains. That checks the
// plumbing (the busier side found, the explanation applied, medians still judged), not
// the model: docs/gate.md's busy-loop counts check that against the machine.
func withMachine(rng *rand.Rand, f *resultfile.File, busy bool) *resultfile.File {
	figs := []string{metric.MachineOthersCPU, metric.MachinePressure, metric.MachineSteal, metric.MachineWakeP50, metric.MachineWakeP90, metric.MachineWakeP99, metric.MachineWakeMean}
	f.Units = append(f.Units, figs...)
	quiet, loud := busyFigures[false], busyFigures[true]
	const step = 0.00333 // the quickstart's itl-p50
	for i := range f.Reps {
		ms := f.Reps[i].Metrics
		if busy {
			jitter := func() float64 { return min(1.4, max(0.5, 1+0.25*rng.NormFloat64())) }
			slower := 0.0 // e2e-p50's relative growth
			for j := range ms {
				u, v := ms[j].Unit, ms[j].Value
				q := metric.MachineWakeP50
				switch {
				case strings.Contains(u, "-p90-"):
					q = metric.MachineWakeP90
				case strings.Contains(u, "-p99-"):
					q = metric.MachineWakeP99
				}
				switch {
				case strings.HasPrefix(u, "itl-"):
					ms[j].Value += 2 * (loud[q] - quiet[q]) * jitter()
				case strings.HasSuffix(u, "-sec"):
					ms[j].Value += v / step * 0.7 * (loud[metric.MachineWakeMean] - quiet[metric.MachineWakeMean]) * jitter()
					if u == "e2e-p50-sec" {
						slower = ms[j].Value/v - 1
					}
				}
			}
			for j := range ms {
				if u := ms[j].Unit; u == "req/s" || u == "tok/s" {
					ms[j].Value /= 1 + slower
				}
			}
		}
		for _, u := range figs {
			ms = append(ms, resultfile.Metric{Unit: u, Value: busyFigures[busy][u] * (1 + 0.1*rng.NormFloat64())})
		}
		f.Reps[i].Metrics = ms
	}
	return f
}

// TestPowerBusyMachine injects a busy machine into the current side: with no change the
// case must never FAIL (INCONCLUSIVE or PASS), and a 20% decode slowdown must never PASS
// silently and FAIL on the medians the noise cannot explain. With the baseline's machine
// busier, an unchanged case neither FAILs nor is INCONCLUSIVE: it looks faster, and the
// improvements the noise explains are not called improvements.
func TestPowerBusyMachine(t *testing.T) {
	trials := 100
	if *flagPower {
		trials = 1000
	}
	opt := GateOptions(0, 0)
	rng := rand.New(rand.NewPCG(12, 34))
	type row struct {
		name                     string
		fail, inconclusive, pass int
	}
	var rows []row
	for _, tc := range []struct {
		name                string
		shift               float64
		busyBase, busyCur   bool
		wantNoFail, wantHit bool
	}{
		{"unchanged, both quiet", 0, false, false, false, false},
		{"unchanged, current busy", 0, false, true, true, false},
		{"unchanged, baseline busy", 0, true, false, true, false},
		{"20% decode slowdown, baseline busy", 0.2, true, false, false, false},
		{"20% decode slowdown, both quiet", 0.2, false, false, false, true},
		{"20% decode slowdown, current busy", 0.2, false, true, false, true},
	} {
		r := row{name: tc.name}
		for range trials {
			base := withMachine(rng, powerRun(rng, 10, 0.03, nil, 0), tc.busyBase)
			cur := withMachine(rng, powerRun(rng, 10, 0.03, decodeGroup, tc.shift), tc.busyCur)
			rep := gate.Compare(base, cur, opt)
			switch {
			case len(rep.Regressions()) > 0:
				r.fail++
				if tc.wantNoFail {
					t.Logf("%s: %s", tc.name, rep.RegressionList())
				}
			case len(rep.Inconclusives()) > 0:
				r.inconclusive++
			default:
				r.pass++
			}
		}
		rows = append(rows, r)
		if tc.wantNoFail {
			assert.Zero(t, r.fail, "%s: false FAILs", tc.name)
		}
		if tc.busyBase {
			assert.Zero(t, r.inconclusive, "%s: INCONCLUSIVE is for a busier current run", tc.name)
		}
		if tc.wantHit {
			assert.Zero(t, r.pass, "%s: silent passes", tc.name)
			assert.Equal(t, trials, r.fail, "%s: the medians move beyond what the noise explains", tc.name)
		}
	}
	var sb strings.Builder
	tw := tabwriter.NewWriter(&sb, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "case\tFAIL\tINCONCLUSIVE\tPASS\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%.1f%%\t%.1f%%\t%.1f%%\t\n", r.name, 100*float64(r.fail)/float64(trials), 100*float64(r.inconclusive)/float64(trials), 100*float64(r.pass)/float64(trials))
	}
	tw.Flush()
	t.Logf("machine noise injected, %d trials per row, count 10, default thresholds:\n%s", trials, sb.String())
}

// TestPowerBoundary is the power self-test of the no-change boundary: the gate against a
// baseline of 30 repetitions (-perf.count 10, -perf.max-count 30, where -perf.update
// records at 30), the quickstart's 15 metrics at 3% noise with their default thresholds,
// a metric regressing alone by 0, 5, 10 or 20%, judged look by look as Result.Gate does:
// with the first look at -perf.min-count 5 (the default) or 6, the boundary's early look,
// and without (-perf.min-count 10: the looks before the boundary). The table is in
// docs/boundary.md:
//
//	go test -run TestPowerBoundary -v ./perftest -perf.power
//
// It checks the boundary's promises: an unchanged case stops at a mean of at most 6
// repetitions at the default, a regression is caught about as often as without the early look, and
// false alarms per case stay at or below alpha.
func TestPowerBoundary(t *testing.T) {
	trials := 140
	if *flagPower {
		trials = 1400
	}
	opt := GateOptions(0, 0)
	c := Case{Count: 10, MaxCount: 30}
	var cells []seqCell
	for _, d := range []struct {
		name     string
		minCount int
	}{{"min-count 10 (no early look)", 10}, {"min-count 6", 6}, {"min-count 5 (the default)", 5}} {
		looks, least := c.gateLooks(d.minCount)
		for _, shift := range []float64{0, 0.05, 0.10, 0.20} {
			cells = append(cells, powerSequentialLeast(d.name, looks, least, false, shift, trials, 0.03, opt))
		}
	}
	var sb strings.Builder
	writeSeqTable(&sb, cells)
	t.Logf("gate against a baseline of 30, current 5, 6 or 10..30, %d trials per row, 3%% noise, default thresholds, the quickstart's 15 metrics:\n%s", trials, sb.String())
	const shifts = 4
	for i, c := range cells {
		rate := float64(c.detected) / float64(c.trials)
		mean := float64(c.reps) / float64(c.trials)
		assert.LessOrEqual(t, float64(c.falseAlarms)/float64(c.trials), 0.05, "%s %.0f%%: family-wise false alarms per case", c.design, 100*c.shift)
		if i < shifts {
			continue
		}
		old := cells[i%shifts]
		switch c.shift {
		case 0:
			if i >= 2*shifts {
				assert.LessOrEqual(t, mean, 6.0, "%s: mean repetitions of an unchanged case", c.design)
			}
		case 0.20:
			assert.GreaterOrEqual(t, rate, float64(old.detected)/float64(old.trials)-0.02, "%s: a 20%% regression is caught as often as without the early look", c.design)
			assert.GreaterOrEqual(t, rate, 0.95, "%s: a 20%% regression alone", c.design)
		}
	}
}

package machine

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/aclements/go-moremath/stats"

	"github.com/perfgate/perfgate/perftest/gate"
	"github.com/perfgate/perfgate/perftest/internal/robust"
	"github.com/perfgate/perfgate/perftest/metric"
	"github.com/perfgate/perfgate/perftest/resultfile"
)

// Figures are the medians, over a run's repetitions, of its machine figures (NaN: not
// recorded).
type Figures struct {
	OthersCPU, Pressure, Steal          float64
	WakeP50, WakeP90, WakeP99, WakeMean float64 // seconds
}

// Comparison is how the machines two runs measured compare, and how much of a change of
// each metric the difference can explain (Explain).
type Comparison struct {
	// Busier is +1 when the current run's machine was measurably busier than the
	// baseline's, -1 when the baseline's was, 0 when neither was or a side has no figures.
	Busier int
	// Why names the figures that make the busier side busier.
	Why       string
	Base, Cur Figures
	// Missing names the side that recorded no machine figures when the other did ("" when
	// both or neither did): a run recorded before perfgate measured the machine, or on a
	// system without the sources.
	Missing string

	baseMedians map[string]float64
	metrics     *metric.Set
	// gpu is the relative slowdown of the busier side's throttled GPU (0: none).
	gpu float64
	// late: the busier side is busier because its client fell behind its schedule more
	// often (lateNoise).
	late bool
	// perChunk: a side's ITL is per chunk (the server counted no tokens within chunks).
	perChunk bool
	// colocated: the server is the simulator, on the client's machine ("backend: mock").
	colocated bool
	// Both is true when both sides' machines were saturated (CPU pressure at least
	// saturatedPressure on each, neither materially busier) in runs made one after the
	// other: then neither side's timings can be trusted against the other's (see Explain).
	Both bool
}

// Busier load is a load figure significantly (one-sided Mann-Whitney U, p < 0.05) and
// materially higher on one side: these are the material differences.
type materialFigure struct {
	unit  string
	delta float64
	what  string
}

var material = []materialFigure{
	{metric.MachineOthersCPU, 0.25, "other processes' CPU"},
	{metric.MachinePressure, 0.10, "CPU pressure"},
	{metric.MachineSteal, 0.02, "steal"},
}

// wakeMaterial is the client's own wake-up delay, load evidence where the CPU figures find
// no difference either way: a baseline recorded while other processes came and went
// (examples/workloads PerfSpeculative: 0 to 1.8 cores of them) reads no busier or calmer
// by them than a run beside one busy loop (1.06 cores), while the probe woke 83 µs later
// on average (249 µs against 166 µs) and the run's 0.9 ms itl-p50 was 5.3% slower
// (2026-12-08). Only then: the probe shares the client's process (and an in-process
// simulator's), so its delay also moves with their own work.
var wakeMaterial = []materialFigure{{metric.MachineWakeMean, 50e-6, "wake-up delay"}}

// Compare compares the machine figures of two runs; Explain reads the kinds of their
// units from set (nil: metric.Default()).
func Compare(base, cur *resultfile.File, set *metric.Set) Comparison {
	c := Comparison{Base: figures(base), Cur: figures(cur), baseMedians: map[string]float64{}, metrics: set,
		perChunk:  base.ConfigValue(metric.KeyITL) == "per-chunk" || cur.ConfigValue(metric.KeyITL) == "per-chunk",
		colocated: base.ConfigValue("backend") == "mock" && cur.ConfigValue("backend") == "mock"}
	for _, u := range base.Units {
		c.baseMedians[u] = robust.Median(base.Values(u))
	}
	if side, slowdown, why := gpuNoise(base, cur); side != 0 {
		// A GPU that slowed down on one side outweighs whatever the host figures say.
		c.Busier, c.Why, c.gpu = side, why, slowdown
		return c
	}
	if side, why := lateNoise(base, cur); side != 0 {
		c.Busier, c.Why, c.late = side, why, true
		return c
	}
	switch hb, hc := hasFigures(base), hasFigures(cur); {
	case !hb && !hc:
		return c
	case !hb:
		c.Missing = "baseline"
		return c
	case !hc:
		c.Missing = "current"
		return c
	}
	c.Busier, c.Why = busierHost(base, cur)
	if c.Busier == 0 && c.Base.Pressure >= saturatedPressure && c.Cur.Pressure >= saturatedPressure &&
		cur.ConfigValue(metric.KeyABOrder) == "" {
		// Two saturated machines read alike (other processes' CPU cannot pass the core
		// count, pressure nears 100%) while what each side lost depends on how the scheduler
		// shared the cores at the time. The sides of a paired A/B run shared the same
		// machine at the same time, so their pairs are not in question.
		c.Both = true
		c.Why = fmt.Sprintf("CPU pressure %.0f%% and %.0f%%: what a saturated machine takes from a run cannot be measured, so timings from two of them cannot be compared", 100*c.Base.Pressure, 100*c.Cur.Pressure)
	}
	return c
}

// busierHost compares the host figures (material, then wakeMaterial where those differ in
// no direction): the side busier in some figure and not the other way in any is the
// busier. When each side is busier in some figure, the side whose largest difference is
// the more material (in multiples of its materiality) is the busier if that is at least
// twice the other side's, else neither. On 2026-12-08 a baseline recorded on a VM whose
// host took 2.0% steal (material at 2%: 1.0x) met a current run beside two busy loops,
// other processes 1.9 cores against 0.2 (6.7x): the current run is the busier, and its
// simulator's itl-p90 +22.6% is the busy loops' doing.
func busierHost(base, cur *resultfile.File) (side int, why string) {
	side, why, found := busierBy(material, base, cur)
	if !found {
		side, why, _ = busierBy(wakeMaterial, base, cur)
	}
	return side, why
}

// busierBy is busierHost over the figures figs; found reports whether either side was
// busier in any of them.
func busierBy(figs []materialFigure, base, cur *resultfile.File) (side int, why string, found bool) {
	// by[0] is the current run, by[1] the baseline: the figures it is busier in, and the
	// largest of those differences in multiples of its materiality.
	var by [2]struct {
		why  []string
		most float64
	}
	for _, m := range figs {
		b, v := base.Values(m.unit), cur.Values(m.unit)
		if len(b) == 0 || len(v) == 0 {
			continue
		}
		d, k := robust.Median(v)-robust.Median(b), 0
		switch {
		case d >= m.delta && higher(v, b):
		case -d >= m.delta && higher(b, v):
			d, k = -d, 1
		default:
			continue
		}
		by[k].why, by[k].most = append(by[k].why, m.what), max(by[k].most, d/m.delta)
	}
	found = len(by[0].why)+len(by[1].why) > 0
	names := [2]string{"the current run's", "the baseline's"}
	for k, s := range [2]int{1, -1} {
		mine, other := by[k], by[1-k]
		if len(mine.why) == 0 || mine.most < 2*other.most {
			continue
		}
		why = strings.Join(mine.why, ", ")
		if len(other.why) > 0 {
			why += fmt.Sprintf("; %.1fx material against %s %s at %.1fx", mine.most, names[1-k], strings.Join(other.why, ", "), other.most)
		}
		return s, why, found
	}
	return 0, "", found
}

// higher reports whether a's values are significantly higher than b's.
func higher(a, b []float64) bool {
	res, err := stats.MannWhitneyUTest(a, b, stats.LocationGreater)
	return err == nil && res.P < 0.05
}

// Explain returns the relative change of unit's baseline median that the difference of the
// machines can explain in the direction the busier side moves it (latencies up, rates
// down): 0 when neither side is busier, for units a busy client machine does not move
// (error rates, cache hits, counts), and for units the baseline lacks. When both sides were
// saturated (Both), every time and rate: +Inf, either way.
//
// The model: every timestamp the client takes, and every step of a server sharing the
// machine, waits for a CPU about as long as the wake-up probe did. A gap between two
// tokens (metric.Def.TokenGap: itl-*) carries three such delays (the server's step loop,
// its writer, the client's reader), so its quantile q can move by 3 x the difference of the
// probe's quantile q (the median for a mean). A latency made of steps (ttft-*, tpot-*,
// e2e-*) also adds the probe's mean delay once per step it spans, counted as its median
// over the baseline's median inter-token latency; a latency the server measures
// (metric.Def.Server) only that. A rate (req/s, tok/s) moves as the median end-to-end
// latency does. What the model leaves out: CPU-bound work of a server (a scheduler, a
// tokenizer) slowed by sharing cores, which the probe does not see; see docs/gate.md ("Busy machines").
//
// A GPU that throttled on the busier side explains, for every time and rate, the
// slowdown of its SM clock: the other side's median clock over the lowest clock of the
// throttled repetitions (everything, when the clocks were not read).
func (c Comparison) Explain(unit string) float64 {
	d, _ := c.metrics.Lookup(unit)
	if c.Both {
		// Both saturated: every time and rate can have lost any amount on either side
		// (two identical llama.cpp servers beside a build holding both cores compared as
		// itl-p50 +31% and req/s -19%, then as req/s +120%; 2026-12 issue 22).
		if d.Unit == metric.Seconds || d.Kind == metric.Rate {
			return math.Inf(1)
		}
		return 0
	}
	if c.Busier == 0 {
		return 0
	}
	if c.late {
		// The late side's requests went out late by up to its lag: every latency counted
		// from the due time, and every rate, can be explained; the gaps between tokens
		// cannot.
		if lateTouches(d) {
			return math.Inf(1)
		}
		return 0
	}
	if c.gpu > 0 {
		if d.Unit == metric.Seconds || d.Kind == metric.Rate {
			return c.gpu
		}
		return 0
	}
	if c.colocated && crowded(c.busier()) && (d.Unit == metric.Seconds || d.Kind == metric.Rate || unit == metric.ServerKVPeak || unit == metric.ServerWaitingPeak) {
		// The simulator shares the saturated CPU with the load: every step it takes is
		// late by what the scheduler gives it, so its timings, the requests it holds
		// (KV usage, queue) and the rates follow the load, by no amount the wake-up probe
		// bounds (examples/workloads beside two busy loops, 2026-12-07: ttft-p90 +45%,
		// itl-p90 +22%, server-kv-peak +33%, server-waiting-peak 0 -> 1 on unchanged cases).
		return math.Inf(1)
	}
	if d.Kind == metric.Rate {
		return c.Explain(metric.E2EP50)
	}
	m, ok := c.baseMedians[unit]
	if !ok || m <= 0 || d.Unit != metric.Seconds {
		return 0
	}
	busy, calm := c.busier()
	if d.TokenGap && c.perChunk {
		// Gaps between chunks the server did not count tokens in are as wide as the client's
		// reads make them: a busier client coalesces chunks into fewer, wider gaps, by no
		// amount the wake-up delay bounds (examples/workloads PerfAgent: itl-p50 +18.7%
		// beside two busy loops, its TPOT and e2e unchanged).
		return math.Inf(1)
	}
	dw := func(b, q float64) float64 {
		if math.IsNaN(b) || math.IsNaN(q) {
			return 0
		}
		return max(0, b-q)
	}
	var q float64
	switch d.Stat {
	case metric.P50, metric.Mean:
		q = dw(busy.WakeP50, calm.WakeP50)
	case metric.P90:
		q = dw(busy.WakeP90, calm.WakeP90)
	default:
		q = dw(busy.WakeP99, calm.WakeP99)
	}
	abs := 3 * q
	if d.Server {
		abs = 0
	}
	if !d.TokenGap {
		if step := c.baseMedians[metric.ITLP50]; step > 0 {
			abs += max(1, m/step) * dw(busy.WakeMean, calm.WakeMean)
		}
	}
	return max(abs/m, saturationShare(busy, calm))
}

// saturatedPressure is the CPU pressure (PSI "some": the share of time some task waited for
// a CPU) from which a machine counts as saturated: on 2026-12-07 two busy loops beside a perf
// case on a 2-core machine read 92-100%, the same machine idle 8-17%.
const saturatedPressure = 0.5

// crowded reports whether the busier side's machine was saturated (saturationShare) or
// had at least three quarters of a core more of other processes' work. A simulator sharing
// the machine then loses speed to the load by more than the wake-up probe shows, through
// the scheduler and through the cores' shared caches and hyperthread siblings, which PSI
// does not see either. Seen on a 2-core VM: two busy loops read 1.9 cores while PSI
// pressure stayed at 9%, and a simulator sharing those cores lost 8-22% of its speed
// (2026-12-07); one busy loop read 1.0-1.1 cores against 0.1 at pressure 2-8%, and
// examples/workloads PerfImages lost 7% of its req/s and 13% of its e2e-p90, of which
// the probe explained 3.7-8.8%: two false FAILs in a row (2026-12-08).
func crowded(busy, calm Figures) bool {
	return saturationShare(busy, calm) > 0 || busy.OthersCPU-calm.OthersCPU >= 0.75
}

// busier returns the busier side's figures, then the calmer side's.
func (c Comparison) busier() (busy, calm Figures) {
	if c.Busier < 0 {
		return c.Base, c.Cur
	}
	return c.Cur, c.Base
}

// saturationShare is the relative slowdown a saturated busier side can explain beyond the
// wake-up model: when tasks waited for a CPU most of the time, the scheduler favours a
// sleeper such as the probe, which then understates what the client's and the server's
// CPU-bound work lost. It grows with the difference of CPU pressure, at 0.15 of it: on
// 2026-12-07, beside two busy loops (pressure 100% against 16%), an unchanged simulator
// case moved its per-chunk itl-p50 by +6.0% (examples/workloads PerfAgent, whose baseline
// had been recorded quiet), which this explains with a margin (12.6%), while a 20%
// slower decode stays beyond it. A CPU-bound server sharing the machine can lose more
// (docs/gate.md, "Busy machines").
func saturationShare(busy, calm Figures) float64 {
	if !(busy.Pressure >= saturatedPressure && busy.Pressure-calm.Pressure >= saturatedPressure/2) { // also when a side has no pressure (NaN)
		return 0
	}
	return 0.15 * (busy.Pressure - calm.Pressure)
}

// GateNoise returns the gate's hook for the machines (gate.Options.Noise): Compare of the
// two runs, with the kinds of units from set (nil: metric.Default()).
func GateNoise(set *metric.Set) func(base, cur *resultfile.File) gate.Noise {
	return func(base, cur *resultfile.File) gate.Noise {
		c := Compare(base, cur, set)
		return gate.Noise{Busier: c.Busier, Both: c.Both, Why: c.Why, Summary: c.String(), Explain: c.Explain, Missing: c.Missing}
	}
}

// String describes both sides' host figures: "current: other processes 1.93 cores, CPU
// pressure 62%, steal 0.0%, wake-up delay p50/p99 110µs/4.1ms; baseline: ..."; "" when
// neither side has them.
func (c Comparison) String() string {
	if c.Cur.String() == "not measured" && c.Base.String() == "not measured" {
		return ""
	}
	return fmt.Sprintf("current: %s; baseline: %s", c.Cur, c.Base)
}

func (f Figures) String() string {
	if math.IsNaN(f.OthersCPU) && math.IsNaN(f.Pressure) && math.IsNaN(f.WakeP99) {
		return "not measured"
	}
	var parts []string
	if !math.IsNaN(f.OthersCPU) {
		parts = append(parts, fmt.Sprintf("other processes %.2f cores", f.OthersCPU))
	}
	if !math.IsNaN(f.Pressure) {
		parts = append(parts, fmt.Sprintf("CPU pressure %.0f%%", 100*f.Pressure))
	}
	if !math.IsNaN(f.Steal) {
		parts = append(parts, fmt.Sprintf("steal %.1f%%", 100*f.Steal))
	}
	if !math.IsNaN(f.WakeP99) {
		parts = append(parts, fmt.Sprintf("wake-up delay p50/p99 %v/%v", sec(f.WakeP50), sec(f.WakeP99)))
	}
	return strings.Join(parts, ", ")
}

func sec(s float64) time.Duration {
	d := time.Duration(s * float64(time.Second))
	switch {
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	case d >= 10*time.Microsecond:
		return d.Round(time.Microsecond)
	}
	return d
}

func figures(f *resultfile.File) Figures {
	m := func(u string) float64 { return robust.Median(f.Values(u)) }
	return Figures{OthersCPU: m(metric.MachineOthersCPU), Pressure: m(metric.MachinePressure), Steal: m(metric.MachineSteal),
		WakeP50: m(metric.MachineWakeP50), WakeP90: m(metric.MachineWakeP90), WakeP99: m(metric.MachineWakeP99), WakeMean: m(metric.MachineWakeMean)}
}

// hasFigures reports whether f has the host's figures (GPU telemetry aside).
func hasFigures(f *resultfile.File) bool {
	return slices.ContainsFunc(f.Units, func(u string) bool { return strings.HasPrefix(u, metric.MachinePrefix) })
}

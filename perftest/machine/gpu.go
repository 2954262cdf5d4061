package machine

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"math"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/perfgate/perfgate/internal/proc"
)

// GPU telemetry comes from nvidia-smi's query interface (`nvidia-smi --help-query-gpu`
// documents the names): one CSV line per GPU per interval, without header or units.
// clocks.sm and clocks.mem are the short forms of clocks.current.sm and
// clocks.current.memory (MHz); power.draw is in W, temperature.gpu in degrees C,
// memory.used in MiB, utilization.gpu in percent, and clocks_throttle_reasons.active is
// the NVML throttle-reason bitmask in hex (0x0000000000000004). Drivers from R535 on call
// the last one clocks_event_reasons.active and keep the old name as an alias; where a
// driver knows only the new name, the sampler uses it.
const (
	gpuFieldsBase = "index,clocks.sm,clocks.mem,power.draw,temperature.gpu,memory.used,utilization.gpu,"
	throttleField = "clocks_throttle_reasons.active"
	eventField    = "clocks_event_reasons.active"
)

// ThrottleReasons is NVML's bitmask of why a GPU's clocks are below their maximum, as
// nvidia-smi's clocks_throttle_reasons.active prints it.
type ThrottleReasons uint64

// The reasons, with NVML's values (nvmlClocksThrottleReason*).
const (
	ThrottleGPUIdle           ThrottleReasons = 0x1   // nothing runs on the GPU
	ThrottleAppClocks         ThrottleReasons = 0x2   // applications clocks setting
	ThrottleSWPowerCap        ThrottleReasons = 0x4   // the driver holds power under the cap
	ThrottleHWSlowdown        ThrottleReasons = 0x8   // hardware slowdown (thermal or power brake)
	ThrottleSyncBoost         ThrottleReasons = 0x10  // clocks synchronized with other GPUs
	ThrottleSWThermalSlowdown ThrottleReasons = 0x20  // the driver cools the GPU
	ThrottleHWThermalSlowdown ThrottleReasons = 0x40  // the hardware cools the GPU
	ThrottleHWPowerBrake      ThrottleReasons = 0x80  // an external power brake
	ThrottleDisplayClocks     ThrottleReasons = 0x100 // display clock setting
)

// Slowdowns are the reasons that make a busy GPU slower than the same GPU on another day:
// the power cap, thermal slowdowns, hardware slowdown and the power brake. Idle, clock
// settings and sync boost describe configuration, not noise.
const Slowdowns = ThrottleSWPowerCap | ThrottleHWSlowdown | ThrottleSWThermalSlowdown | ThrottleHWThermalSlowdown | ThrottleHWPowerBrake

// Thermal are the thermal slowdowns.
const Thermal = ThrottleSWThermalSlowdown | ThrottleHWThermalSlowdown

// throttleNames are nvidia-smi's names of the reasons (clocks_throttle_reasons.<name>).
var throttleNames = []struct {
	bit  ThrottleReasons
	name string
}{
	{ThrottleGPUIdle, "gpu_idle"}, {ThrottleAppClocks, "applications_clocks_setting"},
	{ThrottleSWPowerCap, "sw_power_cap"}, {ThrottleHWSlowdown, "hw_slowdown"},
	{ThrottleSyncBoost, "sync_boost"}, {ThrottleSWThermalSlowdown, "sw_thermal_slowdown"},
	{ThrottleHWThermalSlowdown, "hw_thermal_slowdown"}, {ThrottleHWPowerBrake, "hw_power_brake_slowdown"},
	{ThrottleDisplayClocks, "display_clock_setting"},
}

// String names the reasons with nvidia-smi's names, "+"-separated ("none" for none;
// unknown bits in hex).
func (r ThrottleReasons) String() string {
	if r == 0 {
		return "none"
	}
	var names []string
	for _, t := range throttleNames {
		if r&t.bit != 0 {
			names = append(names, t.name)
			r &^= t.bit
		}
	}
	if r != 0 {
		names = append(names, fmt.Sprintf("%#x", uint64(r)))
	}
	return strings.Join(names, "+")
}

// GPUReading is one line of nvidia-smi: one GPU at one moment. Figures nvidia-smi could
// not give ([N/A], [Not Supported]) are NaN.
type GPUReading struct {
	At                      time.Duration // since the sampler started
	Index                   int
	SMClockMHz, MemClockMHz float64
	PowerW, TempC           float64
	MemUsedMiB, UtilPct     float64
	Reasons                 ThrottleReasons
}

// parseGPULine reads one line of the query's CSV output.
func parseGPULine(line string) (GPUReading, error) {
	f := strings.Split(line, ",")
	if len(f) != 8 {
		return GPUReading{}, fmt.Errorf("nvidia-smi line %q: %d fields, want 8", line, len(f))
	}
	for i := range f {
		f[i] = strings.TrimSpace(f[i])
	}
	idx, err := strconv.Atoi(f[0])
	if err != nil {
		return GPUReading{}, fmt.Errorf("nvidia-smi line %q: index %q: %w", line, f[0], err)
	}
	num := func(s string) float64 {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return math.NaN() // [N/A], [Not Supported]
		}
		return v
	}
	r := GPUReading{Index: idx, SMClockMHz: num(f[1]), MemClockMHz: num(f[2]), PowerW: num(f[3]),
		TempC: num(f[4]), MemUsedMiB: num(f[5]), UtilPct: num(f[6])}
	if mask, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(f[7]), "0x"), 16, 64); err == nil {
		r.Reasons = ThrottleReasons(mask)
	} else if !strings.HasPrefix(f[7], "[") {
		return GPUReading{}, fmt.Errorf("nvidia-smi line %q: throttle reasons %q: %w", line, f[7], err)
	}
	return r, nil
}

// GPUStats summarizes the readings of one repetition over all GPUs.
type GPUStats struct {
	// Sampled is false when nothing was sampled; Note then says why (no nvidia-smi, no
	// driver, an error). Note also records problems of a run that did sample.
	Sampled bool
	Note    string
	// GPUs is the number of GPUs seen, Readings the number of lines read (one per GPU per
	// interval).
	GPUs, Readings int
	// Means over all readings, except where named otherwise. PowerW is per GPU.
	SMClockMHz, MinSMClockMHz, MemClockMHz float64
	PowerW, PeakPowerW                     float64
	MaxTempC, PeakMemUsedMiB, UtilPct      float64
	// Reasons holds every throttle reason active in any reading; ThrottledReadings counts
	// the readings in which a Slowdowns reason was active.
	Reasons           ThrottleReasons
	ThrottledReadings int
}

// Throttled reports whether a GPU slowed down (power cap, thermal, hardware slowdown,
// power brake) in any reading: the repetition measured a slower machine, not only slower
// code.
func (s GPUStats) Throttled() bool { return s.ThrottledReadings > 0 }

// String is one line for a log: the figures, and the throttle reasons when any.
func (s GPUStats) String() string {
	if !s.Sampled {
		return "GPU telemetry: " + s.Note
	}
	line := fmt.Sprintf("GPU telemetry: %d GPUs, %d readings: SM %.0f MHz (min %.0f), memory %.0f MHz, %.0f W per GPU (peak %.0f), max %.0f C, %.0f MiB peak, %.0f%% busy",
		s.GPUs, s.Readings, s.SMClockMHz, s.MinSMClockMHz, s.MemClockMHz, s.PowerW, s.PeakPowerW, s.MaxTempC, s.PeakMemUsedMiB, s.UtilPct)
	if s.Throttled() {
		line += fmt.Sprintf("; THROTTLED in %d of %d readings (%s)", s.ThrottledReadings, s.Readings, s.Reasons&Slowdowns)
	}
	if s.Note != "" {
		line += "; " + s.Note
	}
	return line
}

// summarize computes the stats of a repetition's readings.
func summarize(rs []GPUReading) GPUStats {
	s := GPUStats{Sampled: len(rs) > 0, Readings: len(rs), MinSMClockMHz: math.NaN()}
	if len(rs) == 0 {
		return s
	}
	seen := map[int]bool{}
	var sm, mem, pow, util mean
	s.MaxTempC, s.PeakPowerW, s.PeakMemUsedMiB = math.NaN(), math.NaN(), math.NaN()
	for _, r := range rs {
		seen[r.Index] = true
		sm.add(r.SMClockMHz)
		mem.add(r.MemClockMHz)
		pow.add(r.PowerW)
		util.add(r.UtilPct)
		s.MinSMClockMHz = nanMin(s.MinSMClockMHz, r.SMClockMHz)
		s.MaxTempC = nanMax(s.MaxTempC, r.TempC)
		s.PeakPowerW = nanMax(s.PeakPowerW, r.PowerW)
		s.PeakMemUsedMiB = nanMax(s.PeakMemUsedMiB, r.MemUsedMiB)
		s.Reasons |= r.Reasons
		if r.Reasons&Slowdowns != 0 {
			s.ThrottledReadings++
		}
	}
	s.GPUs = len(seen)
	s.SMClockMHz, s.MemClockMHz, s.PowerW, s.UtilPct = sm.value(), mem.value(), pow.value(), util.value()
	return s
}

// mean averages the values that are not NaN (NaN when there are none).
type mean struct {
	sum float64
	n   int
}

func (m *mean) add(v float64) {
	if !math.IsNaN(v) {
		m.sum += v
		m.n++
	}
}

func (m *mean) value() float64 {
	if m.n == 0 {
		return math.NaN()
	}
	return m.sum / float64(m.n)
}

func nanMax(a, b float64) float64 { return nanPick(a, b, math.Max) }
func nanMin(a, b float64) float64 { return nanPick(a, b, math.Min) }

func nanPick(a, b float64, f func(float64, float64) float64) float64 {
	switch {
	case math.IsNaN(a):
		return b
	case math.IsNaN(b):
		return a
	}
	return f(a, b)
}

// queries caches, per nvidia-smi path, the field list that binary accepts (or why none).
var queries sync.Map // string -> queryProbe

type queryProbe struct {
	fields string
	err    error
}

// queryLimits bound the field check: one line per GPU.
var queryLimits = proc.Limits{Timeout: 15 * time.Second, MaxOutput: 64 << 10}

// resolveQuery finds the field list this nvidia-smi accepts: the throttle-reason field
// under its old name, else its new one. A failure (no driver, no GPU) is the error.
func resolveQuery(ctx context.Context, bin string) (string, error) {
	if p, ok := queries.Load(bin); ok {
		return p.(queryProbe).fields, p.(queryProbe).err
	}
	var p queryProbe
	for _, field := range []string{throttleField, eventField} {
		p = queryProbe{fields: gpuFieldsBase + field}
		out, err := proc.Output(ctx, queryLimits, bin, "--query-gpu="+p.fields, "--format=csv,noheader,nounits")
		if err == nil {
			if _, perr := parseGPULine(firstLine(out)); perr != nil {
				err = perr
			}
		}
		if err == nil {
			break
		}
		p.err = err
		if line := firstLine(out); line != "" {
			p.err = fmt.Errorf("%w: %s", err, line)
		}
		if !bytes.Contains(out, []byte("valid field")) {
			break
		}
	}
	if ctx.Err() == nil {
		queries.Store(bin, p)
	}
	return p.fields, p.err
}

func firstLine(b []byte) string {
	line, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return strings.TrimSpace(line)
}

// GPUSampler samples nvidia-smi while a repetition runs. Start it with StartGPUSampler
// and Stop it when the repetition ends.
type GPUSampler struct {
	note   string // set when nothing is sampled
	start  time.Time
	cancel context.CancelFunc
	done   chan error // the nvidia-smi process's exit

	mu       sync.Mutex
	readings []GPUReading
	partial  []byte // an unfinished line
	tooLong  bool   // the unfinished line is over maxGPULine: dropped
	bad      int    // lines that did not parse
	dropped  int    // readings past maxReadings
	firstBad error
	stderr   bytes.Buffer
}

// StartGPUSampler starts sampling GPU telemetry every interval (0: one second) with the
// nvidia-smi at bin ("": the one on PATH) until Stop: SM and memory clocks, power draw,
// temperature, memory used, utilization and the throttle reasons of every GPU, from one
// `nvidia-smi --query-gpu=... -lms` process that prints a line per GPU per interval (so
// the driver is opened once, not once per sample). It never fails: where there is no
// nvidia-smi, or it cannot reach a GPU, the sampler samples nothing and Stop's stats say
// why. ctx bounds the process as well.
//
// Use one sampler per repetition, started just before the workload and stopped just
// after, so that the stats describe that repetition:
//
//	s := machine.StartGPUSampler(ctx, "", 500*time.Millisecond)
//	... run the repetition ...
//	stats := s.Stop()
//	metrics = append(metrics, stats.Metrics()...) // empty when nothing was sampled
//	if stats.Throttled() { ... the repetition measured a slowed-down GPU ... }
func StartGPUSampler(ctx context.Context, bin string, interval time.Duration) *GPUSampler {
	s := &GPUSampler{start: time.Now()}
	if bin == "" {
		p, err := exec.LookPath("nvidia-smi")
		if err != nil {
			s.note = "no nvidia-smi on PATH: no GPU, nothing sampled"
			return s
		}
		bin = p
	}
	fields, err := resolveQuery(ctx, bin)
	if err != nil {
		s.note = fmt.Sprintf("nvidia-smi cannot read the GPUs, nothing sampled: %v", err)
		return s
	}
	interval = cmp.Or(interval, time.Second)
	ctx, s.cancel = context.WithCancel(ctx)
	// proc.Command: a killed nvidia-smi (or a script standing in for it) may leave a child
	// holding the pipe; its process group goes with it, and Wait does not wait for the pipe
	// long.
	cmd := proc.Command(ctx, bin, "--query-gpu="+fields, "--format=csv,noheader,nounits",
		"-lms", strconv.FormatInt(max(interval.Milliseconds(), 1), 10))
	cmd.Stdout = lineWriter{s}
	cmd.Stderr = &limitedWriter{s: s}
	if err := cmd.Start(); err != nil {
		s.cancel()
		s.note = fmt.Sprintf("start %s: %v: nothing sampled", bin, err)
		return s
	}
	s.done = make(chan error, 1)
	go func() {
		err := cmd.Wait()
		proc.Reap(cmd)
		s.done <- err
	}()
	return s
}

// Readings is the number of lines read so far (0 when nothing is sampled).
func (s *GPUSampler) Readings() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.readings)
}

// Stop ends sampling and summarizes what was read. Call it once.
func (s *GPUSampler) Stop() GPUStats {
	if s.done == nil {
		return GPUStats{Note: s.note, MinSMClockMHz: math.NaN()}
	}
	select {
	case err := <-s.done: // nvidia-smi ended by itself: say why
		s.cancel()
		s.mu.Lock()
		if err != nil {
			s.note = fmt.Sprintf("nvidia-smi stopped during the repetition: %v %s", err, firstLine(s.stderr.Bytes()))
		}
		s.mu.Unlock()
	default:
		s.cancel()
		<-s.done
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	stats := summarize(s.readings)
	notes := []string{s.note}
	if s.bad > 0 {
		notes = append(notes, fmt.Sprintf("%d unreadable lines (first: %v)", s.bad, s.firstBad))
	}
	if s.dropped > 0 {
		notes = append(notes, fmt.Sprintf("%d readings past the first %d left out", s.dropped, maxReadings))
	}
	if !stats.Sampled && s.note == "" {
		notes = append(notes, "nvidia-smi printed no reading before the repetition ended (interval longer than the repetition?)")
	}
	stats.Note = strings.Join(deleteEmpty(notes), "; ")
	return stats
}

func deleteEmpty(ss []string) []string {
	out := ss[:0]
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Bounds on what a sampler keeps of nvidia-smi's output: a line longer than maxGPULine is
// not a reading (it is counted as unreadable, and not held whole); readings past
// maxReadings (hours of 8 GPUs sampled every second) are counted, not kept.
const (
	maxGPULine  = 4 << 10
	maxReadings = 1 << 18
)

// lineWriter parses nvidia-smi's output line by line as it arrives.
type lineWriter struct{ s *GPUSampler }

func (w lineWriter) Write(p []byte) (int, error) {
	s, n := w.s, len(p)
	at := time.Since(s.start)
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			if len(s.partial)+len(p) > maxGPULine {
				s.tooLong = true // the rest of this line is dropped up to its end
				s.partial = s.partial[:0]
			} else if !s.tooLong {
				s.partial = append(s.partial, p...)
			}
			break
		}
		if s.tooLong || len(s.partial)+i > maxGPULine {
			s.badLine(fmt.Errorf("nvidia-smi printed a line over %d bytes", maxGPULine))
		} else {
			s.partial = append(s.partial, p[:i]...)
			s.addLine(strings.TrimSpace(string(s.partial)), at)
		}
		s.partial, s.tooLong = s.partial[:0], false
		p = p[i+1:]
	}
	return n, nil
}

// addLine parses one line of output into a reading. Hold s.mu.
func (s *GPUSampler) addLine(line string, at time.Duration) {
	if line == "" {
		return
	}
	r, err := parseGPULine(line)
	switch {
	case err != nil:
		s.badLine(err)
	case len(s.readings) >= maxReadings:
		s.dropped++
	default:
		r.At = at
		s.readings = append(s.readings, r)
	}
}

// badLine counts a line that is not a reading. Hold s.mu.
func (s *GPUSampler) badLine(err error) {
	s.bad++
	if s.firstBad == nil {
		s.firstBad = err
	}
}

// limitedWriter keeps the first 4 KiB of nvidia-smi's stderr.
type limitedWriter struct{ s *GPUSampler }

func (w *limitedWriter) Write(p []byte) (int, error) {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	if room := 4<<10 - w.s.stderr.Len(); room > 0 {
		w.s.stderr.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

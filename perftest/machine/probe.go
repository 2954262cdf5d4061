package machine

import (
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/perfgate/perfgate/perftest/metric"
	"github.com/perfgate/perfgate/perftest/resultfile"
)

// WakeInterval is the sleep of the wake-up probe.
const WakeInterval = time.Millisecond

// Load is how busy the machine was over an interval. A figure whose source does not exist
// on this machine (no PSI before Linux 4.20 or outside Linux, no /proc/stat outside Linux)
// is NaN and named in Missing.
type Load struct {
	Wall      time.Duration
	OthersCPU float64 // cores
	Pressure  float64 // fraction of the wall time
	Steal     float64 // fraction of CPU time
	// Wake-up lateness of the probe: quantiles and mean.
	WakeP50, WakeP90, WakeP99, WakeMean time.Duration
	Wakes                               int64 // probe wake-ups measured
	// Missing names each unavailable source with the reason.
	Missing []string
}

// Metrics returns the figures as result metrics, leaving out those that are unknown.
func (l Load) Metrics() []resultfile.Metric {
	var out []resultfile.Metric
	add := func(unit string, v float64) {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			out = append(out, resultfile.Metric{Unit: unit, Value: v})
		}
	}
	add(metric.MachineOthersCPU, l.OthersCPU)
	add(metric.MachinePressure, l.Pressure)
	add(metric.MachineSteal, l.Steal)
	if l.Wakes > 0 {
		add(metric.MachineWakeP50, l.WakeP50.Seconds())
		add(metric.MachineWakeP90, l.WakeP90.Seconds())
		add(metric.MachineWakeP99, l.WakeP99.Seconds())
		add(metric.MachineWakeMean, l.WakeMean.Seconds())
	}
	return out
}

// A Probe measures the machine's load from StartProbe to Stop: the counters of the kernel
// read at both ends, and a goroutine that sleeps WakeInterval in a loop and records how late
// it wakes.
type Probe struct {
	start   time.Time
	before  counters
	proc    string
	quit    chan struct{}
	exited  chan struct{}
	first   chan struct{} // closed at the first wake-up measured
	mu      sync.Mutex
	late    *hdrhistogram.Histogram
	stopped *Load
}

// StartProbe starts measuring. Stop it to read the load.
func StartProbe() *Probe { return startProbe("/proc") }

func startProbe(proc string) *Probe {
	p := &Probe{proc: proc, quit: make(chan struct{}), exited: make(chan struct{}), first: make(chan struct{}),
		late: hdrhistogram.New(1, int64(10*time.Second/time.Microsecond), 2)}
	p.before = readCounters(proc)
	p.start = time.Now()
	go p.wake()
	return p
}

// wake is the wake-up probe: the lateness of each sleep, in microseconds, goes into a
// histogram of fixed size, so a long repetition costs no more memory than a short one.
func (p *Probe) wake() {
	defer close(p.exited)
	t := time.NewTimer(WakeInterval)
	defer t.Stop()
	for {
		due := time.Now().Add(WakeInterval)
		t.Reset(WakeInterval)
		select {
		case <-p.quit:
			return
		case <-t.C:
			// Not the channel's value, which is when the timer fired: the delay that
			// matters is until this goroutine runs.
			late := max(time.Since(due), 0) / time.Microsecond
			p.mu.Lock()
			_ = p.late.RecordValue(max(int64(late), 1))
			if p.late.TotalCount() == 1 {
				close(p.first)
			}
			p.mu.Unlock()
		}
	}
}

// Stop ends the measurement and returns the load over it, after the probe's first wake-up
// if none happened yet (so that every interval, however short, has the same figures).
// Calling it again returns the load up to the first call.
func (p *Probe) Stop() Load {
	if p.stopped != nil {
		return *p.stopped
	}
	<-p.first
	close(p.quit)
	<-p.exited
	l := p.load()
	p.stopped = &l
	return l
}

func (p *Probe) load() Load {
	wall := time.Since(p.start)
	after := readCounters(p.proc)
	l := Load{Wall: wall, OthersCPU: math.NaN(), Pressure: math.NaN(), Steal: math.NaN()}
	b, a := p.before, after
	switch {
	case b.statErr != nil:
		l.Missing = append(l.Missing, fmt.Sprintf("%s and %s: %v", metric.MachineOthersCPU, metric.MachineSteal, b.statErr))
	case a.statErr != nil:
		l.Missing = append(l.Missing, fmt.Sprintf("%s and %s: %v", metric.MachineOthersCPU, metric.MachineSteal, a.statErr))
	default:
		busy := float64(a.busy-b.busy) / clockTicks
		own := (a.own - b.own).Seconds()
		l.OthersCPU = max(0, busy-own) / wall.Seconds()
		if total := a.total - b.total; total > 0 {
			l.Steal = float64(a.steal-b.steal) / float64(total)
		} else {
			l.Steal = 0
		}
	}
	switch {
	case b.psiErr != nil:
		l.Missing = append(l.Missing, fmt.Sprintf("%s: %v", metric.MachinePressure, b.psiErr))
	case a.psiErr != nil:
		l.Missing = append(l.Missing, fmt.Sprintf("%s: %v", metric.MachinePressure, a.psiErr))
	default:
		l.Pressure = min(1, float64(a.psiSome-b.psiSome)/float64(wall.Microseconds()))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if l.Wakes = p.late.TotalCount(); l.Wakes > 0 {
		us := func(v int64) time.Duration { return time.Duration(v) * time.Microsecond }
		l.WakeP50, l.WakeP90, l.WakeP99 = us(p.late.ValueAtQuantile(50)), us(p.late.ValueAtQuantile(90)), us(p.late.ValueAtQuantile(99))
		l.WakeMean = time.Duration(p.late.Mean() * float64(time.Microsecond))
	}
	return l
}

// counters are the kernel's cumulative counters the probe differences.
type counters struct {
	busy, steal, total uint64        // /proc/stat, in clock ticks
	own                time.Duration // this process's CPU time
	statErr            error
	psiSome            uint64 // /proc/pressure/cpu some total, µs
	psiErr             error
}

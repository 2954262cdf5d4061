package perftest

import (
	"cmp"
	"math"
	"math/rand/v2"
	"time"

	"github.com/perfgate/perfgate/fixtures"
)

// A pacer says when each request of an open loop is due, as an offset from the start of the
// repetition. Rate pacers (constant, Poisson and gamma gaps, optionally along rate stages)
// and the trace-time pacer are peers: the open loop has one path for all of them.
type pacer interface {
	next(req *fixtures.Request) time.Duration
}

var (
	_ pacer = (*ratePacer)(nil)
	_ pacer = (*tracePacer)(nil)
)

// newPacer returns the pacer of an open-loop or trace-time load; rep seeds random arrivals,
// so every repetition has its own schedule and a rerun has the same ones.
func newPacer(l Load, rep int) pacer {
	if l.TraceTime {
		return &tracePacer{speedup: cmp.Or(l.Speedup, 1), first: -1}
	}
	p := &ratePacer{l: l, rng: rand.New(rand.NewPCG(l.Seed, uint64(rep)))}
	switch l.Arrival {
	case Poisson:
		p.gapS = func(rate float64) float64 { return p.rng.ExpFloat64() / rate }
	case Gamma:
		k := cmp.Or(l.Burstiness, 1)
		p.gapS = func(rate float64) float64 { return gammaVariate(p.rng, k) / (k * rate) }
	default:
		p.gapS = func(rate float64) float64 { return 1 / rate }
	}
	return p
}

// tracePacer replays the workload's own arrival offsets, from the first, divided by speedup.
type tracePacer struct {
	speedup float64
	first   time.Duration // -1 until the first request
}

func (p *tracePacer) next(req *fixtures.Request) time.Duration {
	if p.first < 0 {
		p.first = req.Arrival
	}
	return time.Duration(float64(req.Arrival-p.first) / p.speedup)
}

// ratePacer spaces arrivals by gaps drawn at the requested rate (following Stages).
type ratePacer struct {
	l    Load
	rng  *rand.Rand
	at   time.Duration // offset of the last arrival
	n    int
	gapS func(rate float64) float64
}

// rateAt is the requested rate at offset t (following Stages, then holding the last).
func (p *ratePacer) rateAt(t time.Duration) float64 {
	r := p.l.Rate
	var start time.Duration
	for _, s := range p.l.Stages {
		if t < start+s.Duration {
			f := float64(t-start) / float64(s.Duration)
			return r + f*(s.Rate-r)
		}
		start += s.Duration
		r = s.Rate
	}
	return r
}

// next returns the next arrival's offset. The first arrival is at 0.
func (p *ratePacer) next(*fixtures.Request) time.Duration {
	if p.n == 0 {
		p.n++
		return 0
	}
	p.n++
	rate := p.rateAt(p.at)
	// A ramp through zero: step forward to where the rate is positive again.
	for rate <= 0 {
		p.at += 10 * time.Millisecond
		rate = p.rateAt(p.at)
	}
	p.at += time.Duration(p.gapS(rate) * float64(time.Second))
	return p.at
}

// gammaVariate draws from Gamma(k, 1) (Marsaglia and Tsang; k < 1 by boosting).
func gammaVariate(rng *rand.Rand, k float64) float64 {
	if k < 1 {
		return gammaVariate(rng, k+1) * math.Pow(rng.Float64(), 1/k)
	}
	d := k - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := rng.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := rng.Float64()
		if u < 1-0.0331*x*x*x*x || math.Log(u) < 0.5*x*x+d*(1-v+math.Log(v)) {
			return d * v
		}
	}
}

package perftest

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Load says how requests are paced. Exactly one of the three models is set:
//
//   - closed loop: Concurrency requests in flight, a new one sent as soon as one finishes;
//   - open loop: Rate requests per second (or Stages of rates), with Constant, Poisson or
//     Gamma inter-arrival times, sent on schedule whether or not earlier ones finished;
//   - trace time: TraceTime replays the workload's own arrival offsets, divided by Speedup.
//
// In every model latency counts from the moment a request was due, so a client or server
// that falls behind shows up in the numbers instead of hiding them (no coordinated omission).
type Load struct {
	// Concurrency is the number of requests in flight (closed loop).
	Concurrency int

	// Rate is the mean number of requests sent per second (open loop).
	Rate float64
	// Arrival is the inter-arrival process of an open loop (default Constant).
	Arrival Arrival
	// Burstiness is the shape of Gamma inter-arrival times: 1 is Poisson, below 1 is
	// burstier, above 1 more regular (default 1).
	Burstiness float64
	// Stages ramps an open loop's rate: each stage moves the rate linearly from the previous
	// stage's rate (the first from Rate) to its own over its Duration.
	Stages []Stage

	// TraceTime replays the workload's arrival offsets (trace time).
	TraceTime bool
	// Speedup divides trace-time offsets (0: 1; 2 replays twice as fast).
	Speedup float64

	// MaxInFlight caps open-loop and trace-time requests in flight (0: no cap). An arrival
	// over the cap is not sent late: it is counted as a Dropped outcome.
	MaxInFlight int
	// Requests stops a repetition after this many requests (0: the whole workload).
	Requests int
	// Duration stops sending new requests this long after a repetition starts (0: no limit).
	Duration time.Duration
	// Seed seeds Poisson and Gamma arrivals.
	Seed uint64
}

// Stage is one segment of an open-loop rate ramp.
type Stage struct {
	Duration time.Duration
	Rate     float64 // requests per second at the end of the stage
}

// Arrival is an open loop's inter-arrival process.
type Arrival int

// Arrival processes.
const (
	Constant Arrival = iota // evenly spaced
	Poisson                 // exponential gaps
	Gamma                   // gamma gaps with shape Burstiness
)

func (a Arrival) String() string {
	switch a {
	case Poisson:
		return "poisson"
	case Gamma:
		return "gamma"
	}
	return "constant"
}

// Concurrency is a closed-loop load with n requests in flight.
func Concurrency(n int) Load { return Load{Concurrency: n} }

// Rate is an open-loop load of r requests per second, evenly spaced.
func Rate(r float64) Load { return Load{Rate: r} }

// PoissonRate is an open-loop load of r requests per second with exponential gaps.
func PoissonRate(r float64) Load { return Load{Rate: r, Arrival: Poisson} }

// GammaRate is an open-loop load of r requests per second with gamma gaps of the given
// shape (burstiness below 1 gives bursts, as in vLLM's benchmark).
func GammaRate(r, burstiness float64) Load {
	return Load{Rate: r, Arrival: Gamma, Burstiness: burstiness}
}

// TraceTime replays the workload's own arrival offsets, divided by speedup.
func TraceTime(speedup float64) Load { return Load{TraceTime: true, Speedup: speedup} }

func (l Load) closed() bool { return l.Concurrency > 0 }

// String is the load's config value, e.g. "concurrency=16" or "rate=20,poisson".
func (l Load) String() string {
	var parts []string
	switch {
	case l.Concurrency > 0:
		parts = append(parts, "concurrency="+strconv.Itoa(l.Concurrency))
	case l.TraceTime:
		parts = append(parts, "trace-time", "speedup="+fmtFloat(cmp.Or(l.Speedup, 1)))
	default:
		parts = append(parts, "rate="+fmtFloat(l.Rate), l.Arrival.String())
		if l.Arrival == Gamma {
			parts = append(parts, "burstiness="+fmtFloat(cmp.Or(l.Burstiness, 1)))
		}
		for _, s := range l.Stages {
			parts = append(parts, fmt.Sprintf("stage=%s:%s", s.Duration, fmtFloat(s.Rate)))
		}
	}
	if l.MaxInFlight > 0 {
		parts = append(parts, "max-in-flight="+strconv.Itoa(l.MaxInFlight))
	}
	if l.Requests > 0 {
		parts = append(parts, "requests="+strconv.Itoa(l.Requests))
	}
	if l.Duration > 0 {
		parts = append(parts, "duration="+l.Duration.String())
	}
	return strings.Join(parts, ",")
}

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// Validate reports every problem with the load at once.
func (l Load) Validate() error {
	var errs []error
	models := 0
	if l.Concurrency != 0 {
		models++
	}
	if l.Rate != 0 || len(l.Stages) > 0 {
		models++
	}
	if l.TraceTime {
		models++
	}
	switch {
	case models == 0:
		errs = append(errs, errors.New("Load sets no pacing (set Load: perftest.Concurrency(16), perftest.PoissonRate(20), or perftest.TraceTime(1))"))
	case models > 1:
		errs = append(errs, errors.New("Load sets more than one of Concurrency, Rate/Stages and TraceTime; choose one"))
	}
	if l.Concurrency < 0 {
		errs = append(errs, fmt.Errorf("Load.Concurrency must be > 0, got %d (set Load: perftest.Concurrency(16))", l.Concurrency))
	}
	if l.Rate < 0 || math.IsNaN(l.Rate) || math.IsInf(l.Rate, 0) {
		errs = append(errs, fmt.Errorf("Load.Rate must be a finite number > 0, got %v", l.Rate))
	}
	if l.Rate == 0 && len(l.Stages) > 0 && l.Stages[0].Rate == 0 {
		// A ramp from 0 is fine as long as some stage has a rate.
		ok := false
		for _, s := range l.Stages {
			ok = ok || s.Rate > 0
		}
		if !ok {
			errs = append(errs, errors.New("Load.Stages has no stage with a rate > 0"))
		}
	}
	for i, s := range l.Stages {
		if s.Duration <= 0 || s.Rate < 0 {
			errs = append(errs, fmt.Errorf("Load.Stages[%d]: Duration must be > 0 and Rate >= 0, got %v and %v", i, s.Duration, s.Rate))
		}
	}
	if l.Arrival < Constant || l.Arrival > Gamma {
		errs = append(errs, fmt.Errorf("Load.Arrival %d is unknown (use perftest.Constant, Poisson or Gamma)", l.Arrival))
	}
	if l.Burstiness < 0 || l.Speedup < 0 || l.MaxInFlight < 0 || l.Requests < 0 || l.Duration < 0 {
		errs = append(errs, errors.New("Load.Burstiness, Speedup, MaxInFlight, Requests and Duration must be >= 0"))
	}
	return errors.Join(errs...)
}

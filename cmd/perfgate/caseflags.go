package main

import (
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/perfgate/perfgate/fixtures"
	"github.com/perfgate/perfgate/perftest"
)

// caseFlags are the workload and load flags that perfgate run and perfgate ab share.
type caseFlags struct {
	model, api, name       *string
	tracePath, traceFmt    *string
	lenient                *bool
	isl, osl, requests     *int
	islSD, oslSD           *float64
	seed                   *uint64
	conc, maxFlight, limit *int
	rate, burst, speedup   *float64
	arrival                *string
	traceTime              *bool
	duration, timeout      *time.Duration
	count, warmup          *int
}

func addCaseFlags(fs *flag.FlagSet, name string) *caseFlags {
	return &caseFlags{
		model:     fs.String("model", "", "model name (default: the server's first from /v1/models)"),
		api:       fs.String("api", "completions", "completions (token-id prompts) or chat"),
		name:      fs.String("name", name, "case name used in the result files"),
		tracePath: fs.String("trace", "", "trace file to replay (Mooncake, Azure, BurstGPT, ShareGPT)"),
		traceFmt:  fs.String("format-trace", "", "trace format (default: detected)"),
		lenient:   fs.Bool("lenient", false, "skip bad trace rows instead of failing"),
		isl:       fs.Int("isl", 512, "synthetic: mean input length in tokens"),
		islSD:     fs.Float64("isl-stddev", 0, "synthetic: input length standard deviation"),
		osl:       fs.Int("osl", 128, "synthetic: output length in tokens"),
		oslSD:     fs.Float64("osl-stddev", 0, "synthetic: output length standard deviation"),
		requests:  fs.Int("requests", 100, "synthetic: requests per repetition"),
		seed:      fs.Uint64("seed", 1, "seed of synthetic prompts and random arrivals"),
		conc:      fs.Int("concurrency", 0, "closed loop: requests in flight (default 8 when no other load is set)"),
		rate:      fs.Float64("rate", 0, "open loop: requests per second"),
		arrival:   fs.String("arrival", "constant", "open loop: constant, poisson or gamma"),
		burst:     fs.Float64("burstiness", 1, "open loop, gamma: shape (below 1 is burstier)"),
		traceTime: fs.Bool("trace-time", false, "replay the trace's own arrival times"),
		speedup:   fs.Float64("speedup", 1, "trace time: divide offsets by this"),
		maxFlight: fs.Int("max-in-flight", 0, "open loop: drop arrivals beyond this many in flight (0: no cap)"),
		limit:     fs.Int("limit", 0, "stop each repetition after this many requests (0: all)"),
		duration:  fs.Duration("duration", 0, "stop sending new requests after this long (0: no limit)"),
		count:     fs.Int("count", 10, "repetitions"),
		warmup:    fs.Int("warmup", 0, "warm-up requests left out of the results (0: one per stream, -1: none)"),
		timeout:   fs.Duration("timeout", 5*time.Minute, "per-request timeout"),
	}
}

// build returns the case the flags describe, without a target. Skipped trace rows are
// reported on stderr.
func (f *caseFlags) build(stderr io.Writer) (perftest.Case, error) {
	var wl fixtures.Workload
	if *f.tracePath != "" {
		tr, err := fixtures.OpenTrace(*f.tracePath, fixtures.TraceOptions{Format: *f.traceFmt, Lenient: *f.lenient,
			OnSkip: func(err error) { fmt.Fprintf(stderr, "skipped: %v\n", err) }})
		if err != nil {
			return perftest.Case{}, err
		}
		wl = tr
	} else {
		wl = fixtures.Synthetic{ISL: *f.isl, ISLStdDev: *f.islSD, OSL: *f.osl, OSLStdDev: *f.oslSD, Prompts: *f.requests, Seed: *f.seed}
	}
	load := perftest.Load{Concurrency: *f.conc, Rate: *f.rate, TraceTime: *f.traceTime, MaxInFlight: *f.maxFlight,
		Requests: *f.limit, Duration: *f.duration, Seed: *f.seed}
	if *f.traceTime {
		load.Speedup = *f.speedup
	}
	switch *f.arrival {
	case "constant":
	case "poisson":
		load.Arrival = perftest.Poisson
	case "gamma":
		load.Arrival, load.Burstiness = perftest.Gamma, *f.burst
	default:
		return perftest.Case{}, fmt.Errorf("--arrival %q: want constant, poisson or gamma", *f.arrival)
	}
	if load.Concurrency == 0 && load.Rate == 0 && !load.TraceTime {
		load.Concurrency = 8
	}
	c := perftest.Case{Name: *f.name, Model: *f.model, Workload: wl, Load: load, Count: *f.count, Warmup: *f.warmup, Timeout: *f.timeout}
	switch *f.api {
	case "completions":
	case "chat":
		c.API = perftest.Chat
	default:
		return perftest.Case{}, fmt.Errorf("--api %q: want completions or chat", *f.api)
	}
	return c, nil
}

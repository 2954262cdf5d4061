package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/perfgate/perfgate/fixtures"
	"github.com/perfgate/perfgate/perftest"
	"golang.org/x/perf/benchmath"
	"golang.org/x/perf/benchunit"
)

func init() {
	register(command{
		name:    "run",
		summary: "run a workload against a running server and write perf-case result files",
		run:     runRun,
	})
}

const runUsage = `Usage: perfgate run --endpoint URL [workload] [load] [flags]

Runs the perf-case runner against an OpenAI-compatible server you already run, and writes
the files a perf case writes (-perf.out): NAME.txt in Go benchmark format (compare two runs
with 'perfgate compare' or 'go tool benchstat') and NAME.records.jsonl, one line per request.

Workload: --trace FILE (Mooncake, Azure, BurstGPT, ShareGPT; format detected), or synthetic
--isl N --osl N --requests N. Load: --concurrency N, --rate R [--arrival poisson|gamma], or
--trace-time [--speedup S].

Exit status: 0 when the run finished cleanly, 1 when it finished with problems (error rate,
undelivered rate), 2 on bad input or when it could not run.

Flags:
`

func runRun(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("perfgate run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, runUsage); fs.PrintDefaults() }
	var (
		endpoint   = fs.String("endpoint", "", "server base URL, e.g. http://127.0.0.1:8000 (required)")
		model      = fs.String("model", "", "model name (default: the server's first from /v1/models)")
		api        = fs.String("api", "completions", "completions (token-id prompts) or chat")
		name       = fs.String("name", "PerfRun", "case name used in the result files")
		out        = fs.String("out", "out", "folder for the result files")
		tracePath  = fs.String("trace", "", "trace file to replay")
		traceFmt   = fs.String("format", "", "trace format (default: detected)")
		lenient    = fs.Bool("lenient", false, "skip bad trace rows instead of failing")
		isl        = fs.Int("isl", 512, "synthetic: mean input length in tokens")
		islSD      = fs.Float64("isl-stddev", 0, "synthetic: input length standard deviation")
		osl        = fs.Int("osl", 128, "synthetic: output length in tokens")
		oslSD      = fs.Float64("osl-stddev", 0, "synthetic: output length standard deviation")
		requests   = fs.Int("requests", 100, "synthetic: requests per repetition")
		seed       = fs.Uint64("seed", 1, "synthetic prompts and random arrivals: seed")
		conc       = fs.Int("concurrency", 0, "closed loop: requests in flight")
		rate       = fs.Float64("rate", 0, "open loop: requests per second")
		arrival    = fs.String("arrival", "constant", "open loop: constant, poisson or gamma")
		burst      = fs.Float64("burstiness", 1, "open loop, gamma: shape (below 1 is burstier)")
		traceTime  = fs.Bool("trace-time", false, "replay the trace's own arrival times")
		speedup    = fs.Float64("speedup", 1, "trace time: divide offsets by this")
		maxFlight  = fs.Int("max-in-flight", 0, "open loop: drop arrivals beyond this many in flight (0: no cap)")
		limit      = fs.Int("limit", 0, "stop each repetition after this many requests (0: all)")
		duration   = fs.Duration("duration", 0, "stop sending new requests after this long (0: no limit)")
		count      = fs.Int("count", 10, "repetitions")
		warmup     = fs.Int("warmup", 0, "warm-up requests left out of the results (0: one per stream, -1: none)")
		timeout    = fs.Duration("timeout", 5*time.Minute, "per-request timeout")
		maxErrRate = fs.Float64("max-error-rate", 0.01, "error rate above which the run is a failure (negative: never)")
		maxLag     = fs.Duration("max-schedule-lag", 10*time.Millisecond, "open loop: p99 schedule lag above which the run is untrustworthy")
	)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, nil
		}
		return 2, nil
	}
	if fs.NArg() > 0 {
		return 2, fmt.Errorf("unexpected arguments %q (flags go before them?)", fs.Args())
	}
	if *endpoint == "" {
		fs.Usage()
		return 2, errors.New("--endpoint is required")
	}

	var wl fixtures.Workload
	if *tracePath != "" {
		tr, err := fixtures.OpenTrace(*tracePath, fixtures.TraceOptions{Format: *traceFmt, Lenient: *lenient,
			OnSkip: func(err error) { fmt.Fprintf(stderr, "skipped: %v\n", err) }})
		if err != nil {
			return 2, err
		}
		wl = tr
	} else {
		wl = fixtures.Synthetic{ISL: *isl, ISLStdDev: *islSD, OSL: *osl, OSLStdDev: *oslSD, Prompts: *requests, Seed: *seed}
	}
	load := perftest.Load{Concurrency: *conc, Rate: *rate, TraceTime: *traceTime, MaxInFlight: *maxFlight,
		Requests: *limit, Duration: *duration, Seed: *seed}
	if *traceTime {
		load.Speedup = *speedup
	}
	switch *arrival {
	case "constant":
	case "poisson":
		load.Arrival = perftest.Poisson
	case "gamma":
		load.Arrival, load.Burstiness = perftest.Gamma, *burst
	default:
		return 2, fmt.Errorf("--arrival %q: want constant, poisson or gamma", *arrival)
	}
	if load.Concurrency == 0 && load.Rate == 0 && !load.TraceTime {
		load.Concurrency = 1
	}
	c := perftest.Case{
		Name: *name, Target: perftest.Endpoint(*endpoint), Model: *model, Workload: wl, Load: load,
		Count: *count, Warmup: *warmup, Timeout: *timeout, MaxErrorRate: *maxErrRate, MaxScheduleLag: *maxLag,
	}
	switch *api {
	case "completions":
	case "chat":
		c.API = perftest.Chat
	default:
		return 2, fmt.Errorf("--api %q: want completions or chat", *api)
	}
	if err := c.Validate(); err != nil {
		return 2, err
	}

	prog := newProgress(stderr)
	res, runErr := perftest.Execute(ctx, c, perftest.ExecOptions{Name: *name, Logf: prog.logf, ProgressEvery: time.Second})
	prog.done()
	if res == nil {
		return 2, runErr
	}
	path, err := res.WriteFiles(*out)
	if err != nil {
		return 2, err
	}
	printSummary(stdout, res)
	fmt.Fprintf(stdout, "\nresults: %s\n", path)
	if runErr != nil {
		return 1, fmt.Errorf("%w (partial results written)", runErr)
	}
	if probs := res.Problems(c); len(probs) > 0 {
		return 1, errors.New(strings.Join(probs, "; "))
	}
	return 0, nil
}

// printSummary prints each metric's median and range over the repetitions.
func printSummary(w io.Writer, res *perftest.Result) {
	rf := res.File()
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "metric\tmedian\tmin\tmax\t(n=%d)\n", len(res.Reps))
	for _, u := range rf.Units {
		vals := slices.Clone(rf.Values[u])
		s := benchmath.AssumeNothing.Summary(benchmath.NewSample(vals, &benchmath.DefaultThresholds), 0.95)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", u, benchunit.Scale(s.Center, benchunit.Decimal),
			benchunit.Scale(slices.Min(vals), benchunit.Decimal), benchunit.Scale(slices.Max(vals), benchunit.Decimal))
	}
	tw.Flush()
	if len(res.Reps) > 0 {
		d := res.Reps[len(res.Reps)-1].Diag
		fmt.Fprintf(w, "\nlast repetition: sent %d, schedule lag p50 %v p99 %v, mean concurrency %.1f (peak %d)",
			d.Sent, d.LagP50, d.LagP99, d.MeanConcurrency, d.PeakConcurrency)
		if d.RequestedRate > 0 {
			fmt.Fprintf(w, ", rate %.2f of %.2f req/s requested", d.AchievedRate, d.RequestedRate)
		}
		fmt.Fprintln(w)
	}
}

// progress shows the runner's progress lines: rewritten in place on a terminal, one per
// line otherwise (CI logs).
type progress struct {
	w    io.Writer
	tty  bool
	last int
}

func newProgress(w io.Writer) *progress {
	p := &progress{w: w}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

func (p *progress) logf(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	if !p.tty {
		fmt.Fprintln(p.w, line)
		return
	}
	pad := max(0, p.last-len(line))
	fmt.Fprintf(p.w, "\r%s%s", line, strings.Repeat(" ", pad))
	p.last = len(line)
}

func (p *progress) done() {
	if p.tty && p.last > 0 {
		fmt.Fprintln(p.w)
	}
}

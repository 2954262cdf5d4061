package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/perfgate/perfgate/perftest"
	"github.com/perfgate/perfgate/perftest/metric"
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

Workload: --trace FILE (Mooncake, Azure, BurstGPT, ShareGPT; format detected), or
--workload KIND with --isl N --osl N --requests N: synthetic (the default), shared-prefix
(--prefix-ratio, --num-prefixes), multi-turn (--sessions, --turns, --think), reasoning
(--reasoning), tools (--tools N --tool-schema-props K --tool-choice required), agent
(multi-turn's and tools' flags), structured (--schema-depth, --schema-props,
--schema-enums, --schemas), images (--images N --image-size WxH --distinct-images),
embeddings (--batch) or rerank (--documents, --query-len); --api defaults to the
workload's API. Load: --concurrency N (default 8), --rate R [--arrival poisson|gamma], or
--trace-time [--speedup S]. --engine names the server's engine (vllm, sglang, trtllm,
dynamo, llamacpp, mock) so that perfgate resets its prefix cache before every repetition
and reads its metrics; without it, results say it could do neither.

Exit status: 0 when the run finished cleanly, 1 when it finished with problems (error rate,
undelivered rate), 2 on bad input or when it could not run, 130 when interrupted (SIGINT or
SIGTERM: the finished repetitions are written, marked partial).

Flags:
`

func runRun(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	fs := newFlagSet("run", runUsage, stderr)
	endpoint := fs.String("endpoint", "", "server base URL, e.g. http://127.0.0.1:8000 (required)")
	out := fs.String("out", "out", "folder for the result files")
	maxErrRate := fs.Float64("max-error-rate", 0.01, "error rate above which the run is a failure (negative: never)")
	maxLag := fs.Duration("max-schedule-lag", 10*time.Millisecond, "open loop: p99 schedule lag above which a repetition counts as measured on a busy machine (machine-schedule-late: INCONCLUSIVE where its latencies regress, not a failure)")
	quiet := quietFlag(fs)
	cf := addCaseFlags(fs, "PerfRun")
	pos, code, done := parseArgs(fs, args, stdout)
	if done {
		return code, nil
	}
	if len(pos) > 0 {
		return 2, fmt.Errorf("unexpected arguments %q", pos)
	}
	if *endpoint == "" {
		fs.Usage()
		return 2, errors.New("--endpoint is required")
	}

	c, err := cf.build(stderr)
	if err != nil {
		return 2, err
	}
	if c.Target, err = cf.target(*endpoint); err != nil {
		return 2, err
	}
	c.MaxErrorRate, c.MaxScheduleLag = *maxErrRate, *maxLag
	if err := c.Validate(); err != nil {
		return 2, err
	}
	if err := checkOutDir("--out", *out); err != nil {
		return 2, err
	}

	prog := newProgress(stderr, *quiet)
	opt := cf.execOptions()
	opt.Settings["MaxErrorRate"], opt.Settings["MaxScheduleLag"] = "--max-error-rate", "--max-schedule-lag"
	opt.ProgressEvery = time.Second
	prog.wire(&opt)
	res, runErr := perftest.Execute(ctx, c, opt)
	prog.Done()
	runErr = fromServer(runErr)
	if res == nil {
		return 2, runErr
	}
	path, werr := res.WriteFiles(*out)
	printSummary(stdout, res)
	if werr == nil {
		fmt.Fprintf(stdout, "\nresults: %s\n", path)
	}
	switch {
	case runErr != nil && werr != nil:
		return 1, fmt.Errorf("%w; %v", runErr, werr)
	case runErr != nil:
		return 1, fmt.Errorf("%w (partial results written to %s, marked partial)", runErr, path)
	case werr != nil:
		return 2, werr
	}
	if len(res.Problems) > 0 {
		return 1, fromServers(res.Problems)
	}
	return 0, nil
}

// printSummary prints each metric's median and range over the repetitions, then the
// outcome totals.
func printSummary(w io.Writer, res *perftest.Result) {
	rf := res.File()
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "metric\tmedian\tmin\tmax\t(n=%d)\n", len(res.Reps))
	parts := 0
	for _, u := range rf.Units {
		if metric.IsPart(u) {
			parts++
			continue
		}
		vals := rf.Values(u)
		s := benchmath.AssumeNothing.Summary(benchmath.NewSample(vals, &benchmath.DefaultThresholds), 0.95)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", u, benchunit.Scale(s.Center, benchunit.Decimal),
			benchunit.Scale(slices.Min(vals), benchunit.Decimal), benchunit.Scale(slices.Max(vals), benchunit.Decimal))
	}
	tw.Flush()
	if parts > 0 {
		fmt.Fprintf(w, "(and %d part-* figures, where the time of the requests around each TTFT and E2E percentile went: in the result file, for perfgate compare's attribution)\n", parts)
	}
	if len(res.Reps) > 0 {
		d := res.Reps[len(res.Reps)-1].Diag
		fmt.Fprintf(w, "\nlast repetition: sent %d, schedule lag p50 %v p99 %v, mean concurrency %.1f (peak %d)",
			d.Sent, d.LagP50, d.LagP99, d.MeanConcurrency, d.PeakConcurrency)
		if d.RequestedRate > 0 {
			fmt.Fprintf(w, ", rate %.2f of %.2f req/s requested", d.AchievedRate, d.RequestedRate)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, res.Summary())
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/perfgate/perfgate/perftest"
	"github.com/perfgate/perfgate/perftest/gate"
	"github.com/perfgate/perfgate/perftest/resultfile"
)

func init() {
	register(command{
		name:    "compare",
		summary: "compare two result files like the gate does; exit 1 on a regression",
		run:     runCompare,
	})
}

const compareUsage = `Usage:

	perfgate compare OLD NEW [--format text|markdown|json] [--alpha A] [--threshold T]

Compares two result files (Go benchmark format, as perftest writes them with -perf.out or
as baselines) metric by metric: Mann-Whitney U test, Holm correction across the metrics,
a regression only when significant, in the worse direction and above the metric's
threshold (never below the baseline's noise floor). Every metric gets its minimum
detectable effect (MDE). Machine figures (machine-*: how busy the machine was) are shown
and not tested; a regression that a measurably busier machine on NEW's side can explain is
INCONCLUSIVE. When NEW records what the gate decided with (the "looks", "gate-alpha" and
"gate-threshold" lines the test writes with -perf.out), the p-values account for its looks
and the level and threshold are the gate's, unless --alpha or --threshold is given: the
verdicts are the test's.

Where both files hold the part-* figures (perftest writes them), the change of each
regressed TTFT and E2E percentile is split into its causes, each with its own
uncertainty over the repetitions, beside the server figures that moved with it (a "why"
block; --attribute all for every such latency).

When $GITHUB_STEP_SUMMARY is set, the markdown report is also appended to that file.

A file is malformed, and refused with its name, line and field, when it was cut short,
holds lines that are not results, config or Unit lines, names a unit perfgate does not
write without a "Unit <unit> better=lower|higher" line, reverses the direction of a unit
perfgate writes, or holds an impossible value (a negative latency or rate, an error rate
outside [0, 1], NaN or Inf). Two files that share no unit are different setups.

Exit status: 0 no regression (INCONCLUSIVE included, unless --strict), 1 regression, 2 bad
input (unreadable or malformed file, files recorded for different setups: the difference is
printed, files that share no gated metric, gated metrics of OLD missing from NEW, a run
whose file records problems, or bad flags), 3 UNDECIDED (no regression, but at these
repetition counts no change can be significant whatever its size: not a pass; compare more
repetitions), 130 interrupted (SIGINT or SIGTERM).

Flags:
`

func runCompare(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	fs := newFlagSet("compare", compareUsage, stderr)
	rf := addReportFlags(fs)
	unhealthy := fs.Bool("allow-unhealthy", false, "compare runs whose result files record problems (error rate, short outputs, an undelivered rate)")
	attribute := fs.String("attribute", "flagged", "which latencies' changes to split into their causes (client, queue, prefill, decode, network) from the part-* figures: flagged (the regressed ones) or all")
	pos, code, done := parseArgs(fs, args, stdout)
	if done {
		return code, nil
	}
	if len(pos) != 2 {
		fs.Usage()
		return 2, fmt.Errorf("want two files, OLD and NEW; got %d arguments", len(pos))
	}
	if err := rf.validate(); err != nil {
		return 2, err
	}
	if *attribute != "flagged" && *attribute != "all" {
		return 2, fmt.Errorf("unknown --attribute %q (flagged or all)", *attribute)
	}
	opt := perftest.GateOptions(ifSet(fs, "alpha", *rf.alpha), ifSet(fs, "threshold", *rf.threshold))
	opt.AttributeAll = *attribute == "all"
	// The work runs beside the wait for an interrupt: it checks ctx itself, but a read that
	// blocks (a FIFO, a hung network file system) must not keep Ctrl-C from ending it.
	type outcome struct {
		rep  *gate.Report
		code int
		err  error
	}
	res := make(chan outcome, 1)
	go func() {
		rep, code, err := compareFiles(ctx, pos[0], pos[1], *unhealthy, opt)
		res <- outcome{rep, code, err}
	}()
	select {
	case o := <-res:
		if ctx.Err() != nil {
			return interrupted(ctx)
		}
		if o.err != nil {
			return o.code, o.err
		}
		return rf.report(stdout, o.rep)
	case <-ctx.Done():
		return interrupted(ctx)
	}
}

// interrupted is the exit of a command stopped by SIGINT or SIGTERM.
func interrupted(ctx context.Context) (int, error) {
	return 130, fmt.Errorf("interrupted (%v): nothing compared", context.Cause(ctx))
}

// compareFiles reads and checks both files and compares them: a report, or an exit
// status and its error.
func compareFiles(ctx context.Context, oldPath, newPath string, unhealthy bool, opt gate.Options) (*gate.Report, int, error) {
	base, err := readResults(ctx, oldPath)
	if err != nil {
		return nil, 2, err
	}
	cur, err := readResults(ctx, newPath)
	if err != nil {
		return nil, 2, err
	}
	if diff := resultfile.Diff(base, cur, "OLD", "NEW"); diff != "" {
		return nil, 2, fmt.Errorf("%s (OLD) and %s (NEW) were recorded for different setups; refusing to compare unlike runs:\n%s", oldPath, newPath, diff)
	}
	for _, f := range []*resultfile.File{base, cur} {
		if err := f.Healthy(); err != nil && !unhealthy {
			return nil, 2, fmt.Errorf("refusing to compare: %w: its numbers do not describe the requested load (--allow-unhealthy compares anyway)", err)
		}
	}
	rep, err := gate.CompareAsRecordedContext(ctx, base, cur, opt)
	if ctx.Err() != nil {
		return nil, 130, err
	}
	if err != nil {
		return nil, 2, err
	}
	if err := rep.Refusal(); err != nil {
		return nil, 2, fmt.Errorf("refusing to compare: %w", err)
	}
	return rep, 0, nil
}

// readResults is resultfile.Read, stopping at ctx's end between reads.
func readResults(ctx context.Context, path string) (*resultfile.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read results: %w", err)
	}
	defer f.Close()
	return resultfile.Parse(ctxReader{ctx, f}, path)
}

// ctxReader is r that fails with ctx's cause once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if c.ctx.Err() != nil {
		return 0, context.Cause(c.ctx)
	}
	return c.r.Read(p)
}

// ifSet is v when the flag name was set on the command line, else 0: the gate's level or
// threshold that the current file records (gate.CompareAsRecorded), else its default.
func ifSet(fs *flag.FlagSet, name string, v float64) float64 {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	if set {
		return v
	}
	return 0
}

// reportFlags are the comparison flags perfgate compare and perfgate ab share.
type reportFlags struct {
	format           *string
	alpha, threshold *float64
	strict           *bool
}

func addReportFlags(fs *flag.FlagSet) *reportFlags {
	return &reportFlags{
		format:    fs.String("format", "text", "output format: text, markdown or json"),
		alpha:     fs.Float64("alpha", 0.05, "family-wise significance level across the case's metrics"),
		threshold: fs.Float64("threshold", 0, "smallest relative change acted on, for every metric (0: each metric's default)"),
		strict:    fs.Bool("strict", false, "exit 1 also when the comparison is INCONCLUSIVE (a busier machine can explain the changes)"),
	}
}

func (f *reportFlags) validate() error {
	if !slices.Contains(gate.Formats, *f.format) {
		return fmt.Errorf("unknown --format %q (text, markdown or json)", *f.format)
	}
	if *f.alpha <= 0 || *f.alpha >= 1 || *f.threshold < 0 {
		return errors.New("--alpha must be in (0, 1) and --threshold >= 0")
	}
	return nil
}

// report writes rep on stdout in the chosen format, appends its markdown to
// $GITHUB_STEP_SUMMARY when that is set, and returns the exit status: 1 on a regression,
// 3 when the comparison is UNDECIDED.
func (f *reportFlags) report(stdout io.Writer, rep *gate.Report) (int, error) {
	if err := rep.Write(stdout, *f.format); err != nil {
		return 2, err
	}
	if path := os.Getenv("GITHUB_STEP_SUMMARY"); path != "" {
		if err := rep.AppendMarkdown(path); err != nil {
			return 2, fmt.Errorf("write step summary: %w", err)
		}
	}
	switch {
	case len(rep.Regressions()) > 0 || *f.strict && len(rep.Inconclusives()) > 0:
		return 1, nil
	case len(rep.Undecideds()) > 0:
		return 3, nil
	}
	return 0, nil
}

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
detectable effect (MDE).

When $GITHUB_STEP_SUMMARY is set, the markdown report is also appended to that file.

Exit status: 0 no regression, 1 regression, 2 bad input (unreadable or malformed file,
files recorded for different setups: the difference is printed, a run whose file records
problems, or bad flags).

Flags:
`

func runCompare(_ context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	fs := newFlagSet("compare", compareUsage, stderr)
	rf := addReportFlags(fs)
	unhealthy := fs.Bool("allow-unhealthy", false, "compare runs whose result files record problems (error rate, short outputs, an undelivered rate)")
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
	base, err := resultfile.Read(pos[0])
	if err != nil {
		return 2, err
	}
	cur, err := resultfile.Read(pos[1])
	if err != nil {
		return 2, err
	}
	if diff := resultfile.Diff(base, cur, "OLD", "NEW"); diff != "" {
		return 2, fmt.Errorf("%s (OLD) and %s (NEW) were recorded for different setups; refusing to compare unlike runs:\n%s", pos[0], pos[1], diff)
	}
	for _, f := range []*resultfile.File{base, cur} {
		if err := f.Healthy(); err != nil && !*unhealthy {
			return 2, fmt.Errorf("refusing to compare: %w: its numbers do not describe the requested load (--allow-unhealthy compares anyway)", err)
		}
	}
	return rf.report(stdout, gate.Compare(base, cur, perftest.GateOptions(*rf.alpha, *rf.threshold)))
}

// reportFlags are the comparison flags perfgate compare and perfgate ab share.
type reportFlags struct {
	format           *string
	alpha, threshold *float64
}

func addReportFlags(fs *flag.FlagSet) *reportFlags {
	return &reportFlags{
		format:    fs.String("format", "text", "output format: text, markdown or json"),
		alpha:     fs.Float64("alpha", 0.05, "family-wise significance level across the case's metrics"),
		threshold: fs.Float64("threshold", 0, "smallest relative change acted on, for every metric (0: each metric's default)"),
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
// $GITHUB_STEP_SUMMARY when that is set, and returns the exit status: 1 on a regression.
func (f *reportFlags) report(stdout io.Writer, rep *gate.Report) (int, error) {
	if err := rep.Write(stdout, *f.format); err != nil {
		return 2, err
	}
	if path := os.Getenv("GITHUB_STEP_SUMMARY"); path != "" {
		if err := rep.AppendMarkdown(path); err != nil {
			return 2, fmt.Errorf("write step summary: %w", err)
		}
	}
	if len(rep.Regressions()) > 0 {
		return 1, nil
	}
	return 0, nil
}

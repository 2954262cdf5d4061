package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/perfgate/perfgate/internal/atomicfile"
	"github.com/perfgate/perfgate/perftest/report"
)

func init() {
	register(command{
		name:    "report",
		summary: "write report.md and a self-contained report.html with plots for a results folder",
		run:     runReport,
	})
}

const reportUsage = `Usage:

	perfgate report DIR [--baselines DIR] [--history DIR] [--out DIR] [--alpha A] [--threshold T]

Reads a results folder (what -perf.out, perfgate run and perfgate ab write: NAME.txt with
NAME.records.jsonl, NAME.baseline.txt, sweeps CASE_LOAD.txt, A/B runs NAME.A.txt and
NAME.B.txt, *.history.jsonl) and writes two files into it (or into --out):

  report.md    the verdict first, then the gate's comparison tables: for a pull-request
               comment; appended to $GITHUB_STEP_SUMMARY when that is set
  report.html  one self-contained page (inline SVG plots, no script, loads nothing):
               per case the comparison with verdicts and MDE, every gated metric across
               repetitions, a timeline of one repetition, GPU telemetry; per sweep the
               latencies and throughput against load and the pareto front; per history
               every metric over the runs with its change points

A case is compared with NAME.baseline.txt beside it, else with the baselines folder's
<hardware class>/NAME.txt or NAME.txt, as the gate decided it: with the looks, level and
threshold the result file records, unless --alpha or --threshold is given. A regression measured on a GPU that throttled
(power cap, thermal) is INCONCLUSIVE, not a regression; a run whose file records problems
(error rate, undelivered load) is UNHEALTHY and not compared, as the gate refuses it.

Exit status: 0 no regression (or inconclusive), 1 a regression or an unhealthy run, 2 bad
input (also a case that shares no gated metric with its baseline, or lacks some of the
baseline's gated metrics: REFUSED), 3 UNDECIDED (the most urgent verdict is a comparison
with too few repetitions for any change to be significant: not a pass).

Flags:
`

func runReport(_ context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	fs := newFlagSet("report", reportUsage, stderr)
	var (
		baselines = fs.String("baselines", "", "folder of baselines (ROOT/<hardware class>/NAME.txt or ROOT/NAME.txt)")
		hist      = fs.String("history", "", "folder of history files (-perf.history), besides those in DIR")
		out       = fs.String("out", "", "write report.md and report.html here instead of DIR")
		alpha     = fs.Float64("alpha", 0.05, "family-wise significance level across a case's metrics")
		threshold = fs.Float64("threshold", 0, "smallest relative change acted on, for every metric (0: each metric's default)")
	)
	pos, code, done := parseArgs(fs, args, stdout)
	if done {
		return code, nil
	}
	if len(pos) != 1 {
		fs.Usage()
		return 2, fmt.Errorf("want one results folder; got %d arguments", len(pos))
	}
	if *alpha <= 0 || *alpha >= 1 || *threshold < 0 {
		return 2, errors.New("--alpha must be in (0, 1) and --threshold >= 0")
	}
	r, err := report.Load(pos[0], report.Options{Baselines: *baselines, History: *hist, Alpha: ifSet(fs, "alpha", *alpha), Threshold: ifSet(fs, "threshold", *threshold)})
	if err != nil {
		return 2, err
	}
	md, html, err := r.Write(cmp.Or(*out, pos[0]))
	if err != nil {
		return 2, err
	}
	if path := os.Getenv("GITHUB_STEP_SUMMARY"); path != "" {
		b, err := os.ReadFile(md)
		if err != nil {
			return 2, err
		}
		if err := atomicfile.Append(path, b); err != nil {
			return 2, fmt.Errorf("write step summary: %w", err)
		}
	}
	fmt.Fprintf(stdout, "perfgate: %s\n", r.Headline())
	for _, n := range r.Notes {
		fmt.Fprintf(stderr, "note: %v\n", n)
	}
	fmt.Fprintf(stdout, "%s\n%s\n", filepath.ToSlash(md), filepath.ToSlash(html))
	switch v := r.Verdict(); {
	case v == report.Refused:
		return 2, nil
	case v >= report.Regression:
		return 1, nil
	case v == report.Undecided:
		return 3, nil
	}
	return 0, nil
}

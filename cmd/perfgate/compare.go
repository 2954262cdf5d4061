package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/perfgate/perfgate/perftest"
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
files recorded for different setups: the diff is printed, or bad flags).

Flags:
`

// parseInterleaved parses flags that may come before, between or after positional
// arguments, and returns the positional ones.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// writeReport writes rep in the given format.
func writeReport(w io.Writer, rep *perftest.Report, format string) error {
	switch format {
	case "json":
		return rep.WriteJSON(w)
	case "markdown", "md":
		return rep.WriteMarkdown(w)
	}
	if _, err := fmt.Fprintf(w, "%s\n\n", rep.Title()); err != nil {
		return err
	}
	return rep.WriteText(w)
}

// appendStepSummary appends the markdown report to $GITHUB_STEP_SUMMARY when it is set.
func appendStepSummary(rep *perftest.Report) error {
	path := os.Getenv("GITHUB_STEP_SUMMARY")
	if path == "" {
		return nil
	}
	var sb strings.Builder
	if err := rep.WriteMarkdown(&sb); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("write step summary: %w", err)
	}
	if _, err := f.WriteString(sb.String()); err != nil {
		f.Close()
		return fmt.Errorf("write step summary %s: %w", path, err)
	}
	return f.Close()
}

func validFormat(f string) bool {
	return f == "text" || f == "markdown" || f == "md" || f == "json"
}

func runCompare(_ context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(fs.Output(), compareUsage); fs.PrintDefaults() }
	format := fs.String("format", "text", "output format: text, markdown or json")
	alpha := fs.Float64("alpha", 0.05, "family-wise significance level across the case's metrics")
	thr := fs.Float64("threshold", 0, "smallest relative change acted on, for every metric (0: each metric's default)")
	pos, err := parseInterleaved(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		fs.SetOutput(stdout)
		fs.Usage()
		return 0, nil
	}
	if err != nil {
		return 2, nil // the flag package printed the problem and the usage
	}
	if len(pos) != 2 {
		fs.Usage()
		return 2, fmt.Errorf("want two files, OLD and NEW; got %d arguments", len(pos))
	}
	if !validFormat(*format) {
		return 2, fmt.Errorf("unknown --format %q (text, markdown or json)", *format)
	}
	if *alpha <= 0 || *alpha >= 1 || *thr < 0 {
		return 2, fmt.Errorf("--alpha must be in (0, 1) and --threshold >= 0")
	}
	base, err := perftest.ReadResultFile(pos[0])
	if err != nil {
		return 2, err
	}
	cur, err := perftest.ReadResultFile(pos[1])
	if err != nil {
		return 2, err
	}
	if diff := perftest.ConfigDiff(base, cur); diff != "" {
		return 2, fmt.Errorf("%s and %s were recorded for different setups; refusing to compare unlike runs (-%s +%s):\n%s", pos[0], pos[1], pos[0], pos[1], diff)
	}
	rep := perftest.Compare(base, cur, perftest.Options{Alpha: *alpha, Threshold: *thr})
	if err := writeReport(stdout, rep, *format); err != nil {
		return 2, err
	}
	if err := appendStepSummary(rep); err != nil {
		return 2, err
	}
	if len(rep.Regressions()) > 0 {
		return 1, nil
	}
	return 0, nil
}

// writeResult writes a result file in Go benchmark format.
func writeResult(path string, r *perftest.Result) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	if _, err := r.WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("write results %s: %w", path, err)
	}
	return f.Close()
}

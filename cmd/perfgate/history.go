package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/perfgate/perfgate/perftest/history"
	"github.com/perfgate/perfgate/perftest/metric"
)

func init() {
	register(command{
		name:    "history",
		summary: "find lasting shifts (change points) in a case's history of runs",
		run:     runHistory,
	})
}

const historyUsage = `Usage:

	perfgate history FILE [--format text|json] [--alpha A] [--min-change C]

Reads a history file (one JSON line per gated run, written by perf cases run with
-perf.history DIR: DIR/<hardware class>/<case>.history.jsonl) and finds change points
in every metric's medians the way Apache Otava (Hunter) does: the history is searched in
overlapping windows, a split is kept when a Welch t-test finds it significant (alpha across
all metrics, Bonferroni over the places a split could have been), and nearby splits are
merged. It is deterministic and takes time linear in the history's length. It finds drifts a
single comparison against the baseline misses: several small steps, or a change that landed
between two baseline updates.

Exit status: 0 no change point in a worse direction, 1 at least one, 2 bad input.

Flags:
`

// historyOutput is the JSON form of perfgate history.
type historyOutput struct {
	File         string                `json:"file"`
	Entries      int                   `json:"entries"`
	From         time.Time             `json:"from"`
	To           time.Time             `json:"to"`
	ChangePoints []history.ChangePoint `json:"change_points"`
}

func runHistory(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	fs := newFlagSet("history", historyUsage, stderr)
	format := fs.String("format", "text", "output format: text or json")
	alpha := fs.Float64("alpha", 0.05, "chance of a false change point per history, across all metrics")
	minChange := fs.Float64("min-change", 0, "leave out change points whose relative change is smaller (0.03 is 3%)")
	pos, code, done := parseArgs(fs, args, stdout)
	if done {
		return code, nil
	}
	if len(pos) != 1 {
		fs.Usage()
		return 2, fmt.Errorf("want one history file; got %d arguments", len(pos))
	}
	if *format != "text" && *format != "json" {
		return 2, fmt.Errorf("unknown --format %q (text or json)", *format)
	}
	if *alpha <= 0 || *alpha >= 1 || *minChange < 0 {
		return 2, errors.New("--alpha must be in (0, 1), --min-change >= 0")
	}
	h, err := history.Read(pos[0])
	if err != nil {
		return 2, err
	}
	if len(h) == 0 {
		return 2, fmt.Errorf("%s: no entries", pos[0])
	}
	cps, err := history.DetectChangesContext(ctx, h, history.Options{Alpha: *alpha, MinChange: *minChange, HigherBetter: metric.Default().HigherBetter()})
	if err != nil {
		return 2, err
	}
	out := historyOutput{File: pos[0], Entries: len(h), From: h[0].Time, To: h[len(h)-1].Time, ChangePoints: cps}
	if out.ChangePoints == nil {
		out.ChangePoints = []history.ChangePoint{}
	}
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return 2, err
		}
	} else if err := writeHistoryText(stdout, out, h); err != nil {
		return 2, err
	}
	for _, cp := range cps {
		if cp.Worse {
			return 1, nil
		}
	}
	return 0, nil
}

func writeHistoryText(w io.Writer, out historyOutput, h []history.Entry) error {
	fmt.Fprintf(w, "%s: %d runs of %s, %s to %s\n", out.File, out.Entries, h[len(h)-1].Case,
		out.From.Format(time.DateTime), out.To.Format(time.DateTime))
	if len(out.ChangePoints) == 0 {
		_, err := fmt.Fprintln(w, "no change point")
		return err
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "metric\tfrom run\tcommit\ttime\tbefore\tafter\tchange\tp\t")
	for _, cp := range out.ChangePoints {
		dir := "better"
		if cp.Worse {
			dir = "WORSE"
		}
		commit := cp.Commit
		if len(commit) > 12 {
			commit = commit[:12]
		}
		if commit == "" {
			commit = "-"
		}
		fmt.Fprintf(tw, "%s\t#%d\t%s\t%s\t%.4g\t%.4g\t%+.1f%% %s\t%.3f\t\n", cp.Unit, cp.Index+1, commit, cp.Time.Format(time.DateTime), cp.Before, cp.After, 100*cp.Change, dir, cp.P)
	}
	return tw.Flush()
}

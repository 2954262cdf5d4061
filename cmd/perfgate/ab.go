package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/perfgate/perfgate/internal/termtext"
	"github.com/perfgate/perfgate/perftest"
	"github.com/perfgate/perfgate/perftest/gate"
	"github.com/perfgate/perfgate/perftest/resultfile"
)

func init() {
	register(command{
		name:    "ab",
		summary: "interleaved A/B run between two servers; exit 1 when B regressed against A",
		run:     runAB,
	})
}

const abUsage = `Usage:

	perfgate ab --a URL --b URL [workload] [load] [--count N] [--max-count M] [--order-seed S] [--format text|markdown|json] [--out DIR]

Runs the same workload against two OpenAI-compatible servers, alternating repetitions in
whole blocks of A B B A (or B A A B, chosen by --order-seed, random by default; the files
record it), so that drift of the machine lands on both sides, then compares B against A
pair by pair: repetition i of B against repetition i of A, which ran back to back, with
the Wilcoxon signed-rank test on log(B/A) and the Hodges-Lehmann estimate of the change,
Holm's correction across metrics and the gate's thresholds. The way to reproduce a
regression locally: serve the old build on one port and the new one on another. While the
comparison is undecided after --count repetitions a side (rounded up to even), it runs
--count/2 more a side and looks again, up to --max-count, with a group-sequential design
that keeps the false-alarm rate at --alpha; the report says why it stopped.

Workload: synthetic --isl N --osl N --requests N (token-id prompts, exact lengths), or
--trace FILE. Load: --concurrency N (closed loop, default 8), --rate R [--arrival
poisson|gamma] (open loop), or --trace-time.

Exit status: 0 B did not regress (INCONCLUSIVE included, unless --strict), 1 B regressed
against A, 2 bad input or the run could not finish, 3 UNDECIDED (too few repetitions a side
for any change to be significant: not a pass; raise --count).

Flags:
`

func runAB(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	fs := newFlagSet("ab", abUsage, stderr)
	var (
		urlA  = fs.String("a", "", "base URL of server A, the reference (required)")
		urlB  = fs.String("b", "", "base URL of server B, the candidate (required)")
		out   = fs.String("out", "", "also write NAME.A.txt and NAME.B.txt (Go benchmark format) to this folder")
		quiet = quietFlag(fs)
		most  = fs.Int("max-count", 0, "most repetitions a side while the comparison is undecided (0: 3 x --count; --count: exactly --count)")
		seed  = fs.Uint64("order-seed", 0, "chooses the block order, A B B A (even) or B A A B (odd); 0: a random seed (the files record it)")
		rf    = addReportFlags(fs)
		cf    = addCaseFlags(fs, "PerfAB")
		name  = cf.name
	)
	pos, code, done := parseArgs(fs, args, stdout)
	if done {
		return code, nil
	}
	if len(pos) > 0 {
		return 2, fmt.Errorf("unexpected arguments %q", pos)
	}
	if *urlA == "" || *urlB == "" {
		fs.Usage()
		return 2, errors.New("--a and --b are required")
	}
	if err := rf.validate(); err != nil {
		return 2, err
	}
	c, err := cf.build(stderr)
	if err != nil {
		return 2, err
	}
	ta, err := cf.target(*urlA)
	if err != nil {
		return 2, err
	}
	tb, err := cf.target(*urlB)
	if err != nil {
		return 2, err
	}
	c.Target = ta // for Validate; RunAB sets each side's
	c.MaxCount = *most
	if c.MaxCount == 0 {
		c.MaxCount = 3 * c.Count
	}
	if err := c.Validate(); err != nil {
		return 2, err
	}
	if *out != "" {
		if err := checkOutDir("--out", *out); err != nil {
			return 2, err
		}
	}
	opt := cf.execOptions()
	opt.OrderSeed = *seed
	gopt := perftest.GateOptions(*rf.alpha, *rf.threshold)
	opt.Compare = &gopt
	prog := newProgress(stderr, *quiet)
	prog.wire(&opt)
	defer prog.Done()
	ra, rb, runErr := perftest.RunAB(ctx, c, ta, tb, opt)
	if ra != nil && *out != "" {
		for _, s := range []struct {
			side string
			r    *perftest.Result
		}{{"A", ra}, {"B", rb}} {
			p := filepath.Join(*out, *name+"."+s.side+".txt")
			if err := s.r.File().WriteFile(p); err != nil {
				return 2, err
			}
			fmt.Fprintf(stderr, "%s results: %s\n", s.side, p)
		}
	}
	if runErr != nil {
		return 2, fromServer(runErr)
	}
	for side, r := range map[string]*perftest.Result{"A": ra, "B": rb} {
		if len(r.Problems) > 0 {
			return 2, fmt.Errorf("refusing to compare: side %s was unhealthy: %w", side, fromServers(r.Problems))
		}
	}
	fa, fb := ra.File(), rb.File()
	fa.Path, fb.Path = *urlA+" (A)", *urlB+" (B)"
	if diff := resultfile.Diff(fa, fb, "A", "B"); diff != "" {
		fmt.Fprintf(stderr, "note: the servers describe themselves differently:\n%s\n", termtext.Text(diff))
	}
	rep, err := gate.CompareAsRecorded(fa, fb, gopt)
	if err != nil {
		return 2, err
	}
	return rf.report(stdout, rep)
}

// Package perfmain ends a perf test binary with what a passing run can hide: the cases the
// gate skipped as INCONCLUSIVE, which are not passes. Use it in the package's TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(perfmain.Wrap(m).Run()) }
//
// or around goleak: goleak.VerifyTestMain(perfmain.Wrap(m)). After the tests it prints,
// when any case was skipped, one line per case and a last line with the count, such as
//
//	perfgate: 1 perf case INCONCLUSIVE, skipped and not passed: rerun on a quieter machine, or with -perf.strict to fail such cases
//
// go test shows it with -v, and in a package's own folder; in package list mode
// (go test ./...) it shows a package's output only when the package fails, so CI runs
// perf cases with -v (ci/perf-gate does) or sets -perf.summary.
package perfmain

import (
	"fmt"
	"io"
	"os"

	"github.com/perfgate/perfgate/perftest/internal/skipped"
)

// M is what Wrap returns: a testing.M whose Run lists the skipped cases after the tests.
type M struct {
	m   interface{ Run() int }
	out io.Writer
}

// Wrap wraps a test binary's testing.M (or anything that runs tests and returns an exit
// code).
func Wrap(m interface{ Run() int }) M { return M{m: m, out: os.Stdout} }

// Run runs the tests, then prints the skipped cases, and returns the tests' exit code.
func (w M) Run() int {
	code := w.m.Run()
	Summarize(w.out)
	return code
}

// Summarize writes the cases skipped so far, nothing when there are none.
func Summarize(out io.Writer) {
	cases := skipped.All()
	if len(cases) == 0 {
		return
	}
	for _, c := range cases {
		fmt.Fprintf(out, "perfgate: %s: INCONCLUSIVE (%s)\n", c.Name, c.Why)
	}
	noun := "perf case"
	if len(cases) > 1 {
		noun = "perf cases"
	}
	fmt.Fprintf(out, "perfgate: %d %s INCONCLUSIVE, skipped and not passed: rerun on a quieter machine, or with -perf.strict to fail such cases\n", len(cases), noun)
}

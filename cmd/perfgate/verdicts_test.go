package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/perfgate/perfgate/backends/mock"
	"github.com/perfgate/perfgate/fixtures"
	"github.com/perfgate/perfgate/perftest"
	"github.com/perfgate/perfgate/perftest/gate"
	"github.com/perfgate/perfgate/perftest/report"
)

// gateTB records what perftest reports instead of failing the real test: a gate that
// finds a regression must fail its test, and this test checks that it did.
type gateTB struct {
	testing.TB
	mu         sync.Mutex
	logs, errs []string
	skipped    string // what the gate skipped the case with (INCONCLUSIVE on a busy machine)
}

func (g *gateTB) Helper()                  {}
func (g *gateTB) Context() context.Context { return g.TB.Context() }
func (g *gateTB) Logf(f string, a ...any)  { g.add(&g.logs, fmt.Sprintf(f, a...)) }
func (g *gateTB) Errorf(f string, a ...any) {
	g.add(&g.errs, fmt.Sprintf(f, a...))
}
func (g *gateTB) Fatalf(f string, a ...any) { g.add(&g.errs, fmt.Sprintf(f, a...)); runtime.Goexit() }
func (g *gateTB) Skipf(f string, a ...any) {
	g.mu.Lock()
	g.skipped = fmt.Sprintf(f, a...)
	g.mu.Unlock()
	runtime.Goexit()
}
func (g *gateTB) Failed() bool { g.mu.Lock(); defer g.mu.Unlock(); return len(g.errs) > 0 }
func (g *gateTB) add(dst *[]string, s string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	*dst = append(*dst, s)
}

// runGated runs fn with a gateTB on its own goroutine, as a test would run it.
func runGated(t *testing.T, fn func(tb testing.TB)) *gateTB {
	g := &gateTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(g)
	}()
	<-done
	return g
}

// setPerfFlag sets one of perftest's -perf.* flags for the test.
func setPerfFlag(t *testing.T, name, v string) {
	t.Helper()
	f := flag.Lookup(name)
	if f == nil {
		t.Fatalf("no flag %s", name)
	}
	old := f.Value.String()
	if err := flag.Set(name, v); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = flag.Set(name, old) })
}

// verdicts maps each metric of a report (not the machine figures, which are never
// tested) to its verdict, as the JSON output writes it.
func verdicts(t *testing.T, rep *gate.Report) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, d := range rep.Deltas {
		if d.Figure {
			continue
		}
		b, err := d.Verdict.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		out[d.Unit] = string(b)
	}
	return out
}

// TestOneVerdict runs a gated case as a test does, with -perf.out and -perf.summary, then
// perfgate compare (text, markdown and JSON) and perfgate report on the files it wrote: all
// four give every metric the same verdict, for a case decided at its first look (a
// regression) and for one decided at a later look (undecided at 3 repetitions against 12).
func TestOneVerdict(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a simulator: 30 repetitions")
	}
	t.Setenv("GITHUB_STEP_SUMMARY", "")
	dir := t.TempDir()
	baselines := filepath.Join(dir, "baselines")
	basePath := filepath.Join(baselines, "PerfVerdict.txt")
	engine := mock.Config{Model: "sim-llama-8b", SpeedupRatio: 8}
	c := perftest.Case{Name: "PerfVerdict", Workload: fixtures.Synthetic{ISL: 64, OSL: 16, Prompts: 16, Seed: 1},
		Load: perftest.Concurrency(4), Count: 6, MaxCount: 12}

	setPerfFlag(t, "perf.update", "true")
	setPerfFlag(t, "perf.out", filepath.Join(dir, "update"))
	c.Target = mock.Start(t, engine)
	up := runGated(t, func(tb testing.TB) { perftest.Run(tb, c).Gate(tb, basePath) })
	if len(up.errs) > 0 {
		t.Fatalf("baseline: %s", strings.Join(up.errs, "\n"))
	}
	setPerfFlag(t, "perf.update", "false")

	for _, tc := range []struct {
		name    string
		decode  float64
		count   int
		stopped string // the gate's stop ("": at a later look than the first)
	}{
		{"first look", 2, 6, "after 6 repetitions: "},
		{"later look", 1, 3, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
			summary := filepath.Join(dir, tc.name+".test.md")
			setPerfFlag(t, "perf.out", out)
			setPerfFlag(t, "perf.summary", summary)
			cfg := engine
			cfg.Profile = mock.DefaultProfile().Scaled(1, tc.decode)
			c := c
			c.Target, c.Count = mock.Start(t, cfg), tc.count
			var testRep *gate.Report
			g := runGated(t, func(tb testing.TB) { testRep = perftest.Run(tb, c).Gate(tb, basePath) })
			if testRep == nil && g.skipped != "" && len(g.errs) == 0 {
				t.Skipf("the gate skipped the case, so there is no verdict for the four outputs to agree on: %s", g.skipped)
			}
			if testRep == nil {
				t.Fatalf("not gated: %s", strings.Join(g.errs, "\n"))
			}
			stopped := testRep.Sequential.Stopped
			if !strings.HasPrefix(stopped, tc.stopped) || tc.stopped == "" && strings.HasPrefix(stopped, "after 3 repetitions") {
				t.Fatalf("the gate stopped %q; this case is meant to stop %q", stopped, tc.stopped+" (empty: after a later look)")
			}
			if tc.decode > 1 && len(testRep.Regressions()) == 0 {
				t.Errorf("a decode %gx slower regressed nothing: %s", tc.decode, stopped)
			}
			wantCode := 0
			switch {
			case len(testRep.Regressions()) > 0:
				wantCode = 1
			case len(testRep.Undecideds()) > 0:
				wantCode = 3
			}
			if failed := g.Failed(); failed != (wantCode != 0) {
				t.Errorf("the test failed: %v, with %d regressions: %s", failed, len(testRep.Regressions()), g.errs)
			}
			want := verdicts(t, testRep)
			cur := filepath.Join(out, "PerfVerdict.txt")

			// perfgate compare, JSON: the same verdict per metric.
			code, js, errs := runCmd(t, "compare", "--format", "json", basePath, cur)
			if code != wantCode {
				t.Errorf("compare exit %d: %s", code, errs)
			}
			var cj struct {
				Metrics []struct{ Unit, Verdict string }
			}
			if err := json.Unmarshal([]byte(js), &cj); err != nil {
				t.Fatalf("compare --format json: %v\n%s", err, js)
			}
			got := map[string]string{}
			for _, m := range cj.Metrics {
				got[m.Unit] = m.Verdict
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("perfgate compare's verdicts differ from the test's (-test +compare):\n%s", d)
			}

			// perfgate compare, text: the table the test logged, to the byte.
			_, text, _ := runCmd(t, "compare", basePath, cur)
			var logged string
			for _, l := range g.logs {
				if _, table, ok := strings.Cut(l, "against baseline "+basePath+":\n"); ok {
					logged = table
				}
			}
			if d := cmp.Diff(testRep.Title()+"\n\n"+logged, text); logged == "" || d != "" {
				t.Errorf("perfgate compare's table differs from the test's log (-test +compare):\n%s", d)
			}

			// The job summary: perfgate compare appends what the test appended.
			cmpSummary := filepath.Join(dir, tc.name+".compare.md")
			t.Setenv("GITHUB_STEP_SUMMARY", cmpSummary)
			runCmd(t, "compare", basePath, cur)
			t.Setenv("GITHUB_STEP_SUMMARY", "")
			testMD, err1 := os.ReadFile(summary)
			cmpMD, err2 := os.ReadFile(cmpSummary)
			if err1 != nil || err2 != nil {
				t.Fatal(err1, err2)
			}
			// The one difference: the test names the current run by its case, compare by
			// the path it was given.
			cmpText := strings.Replace(string(cmpMD), "→ `"+cur+"`", "→ `PerfVerdict`", 1)
			if d := cmp.Diff(string(testMD), cmpText); d != "" {
				t.Errorf("the job summary differs (-test +compare):\n%s", d)
			}

			// perfgate report: its case's verdict per metric, and its exit status.
			r, err := report.Load(out, report.Options{Baselines: baselines})
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Cases) != 1 || r.Cases[0].Compare == nil {
				t.Fatalf("report: %d cases, notes %v", len(r.Cases), r.Notes)
			}
			if d := cmp.Diff(want, verdicts(t, r.Cases[0].Compare)); d != "" {
				t.Errorf("perfgate report's verdicts differ from the test's (-test +report):\n%s", d)
			}
			rcode, _, rerr := runCmd(t, "report", out, "--baselines", baselines, "--out", t.TempDir())
			if rcode != code {
				t.Errorf("perfgate report exit %d, compare %d: %s", rcode, code, rerr)
			}
		})
	}
}

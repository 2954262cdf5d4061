package perftest

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/perfgate/perfgate/internal/atomicfile"
	"github.com/perfgate/perfgate/internal/proc"
	"github.com/perfgate/perfgate/perftest/gate"
	"github.com/perfgate/perfgate/perftest/history"
	"github.com/perfgate/perfgate/perftest/internal/robust"
	"github.com/perfgate/perfgate/perftest/internal/skipped"
	"github.com/perfgate/perfgate/perftest/metric"
	"github.com/perfgate/perfgate/perftest/resultfile"
)

// Gate compares the result with the baseline at path (relative to the test's package
// folder) and fails the test when a metric regressed: significantly (Mann-Whitney U, Holm
// correction across metrics, -perf.alpha), in the worse direction, and by more than the
// metric's threshold (-perf.threshold overrides). It logs a benchstat-style table either
// way and returns the report (see package gate).
//
// With -perf.update it writes the result to path instead (atomically, under a lock file)
// and logs how the new baseline differs from the old one. With -perf.history it also
// appends the run's medians to the case's history (see package history); with
// -perf.summary it appends the report as markdown to that file (CI passes
// $GITHUB_STEP_SUMMARY). Results carry the hardware class: a baseline recorded on another
// class is refused with the difference; use BaselinePath to keep one per class. A missing
// baseline, an unreadable one, or one recorded for another setup (backend, model, workload
// fingerprint, load, ...) fails the test with what to do; unlike runs are never compared.
// With -perf.endpoint the case ran against a server other than its baseline's, so a
// baseline of another setup skips the gate instead.
func (r *Result) Gate(tb testing.TB, path string) *gate.Report {
	tb.Helper()
	if len(r.Reps) == 0 {
		tb.Fatalf("perftest: %s: no repetitions to gate", r.Name)
	}
	cur := r.File()
	if err := cur.Healthy(); err != nil {
		// Run has failed the test with the problems already.
		tb.Errorf("perftest: %s: not gated, and no baseline or history written: %v; its numbers do not describe the requested load", r.Name, err)
		return nil
	}
	if *flagHistory != "" {
		hp := history.Path(*flagHistory, hardware(), fileName(r.Name))
		if err := history.Append(hp, historyEntry(cur)); err != nil {
			tb.Errorf("perftest: %s: %v", r.Name, err)
		} else {
			tb.Logf("perftest: %s: history: appended to %s (check it with `perfgate history %s`)", r.Name, hp, hp)
		}
	}
	if *flagUpdate {
		r.update(tb, path)
		return nil
	}
	base, err := resultfile.Read(path)
	if errors.Is(err, fs.ErrNotExist) {
		tb.Fatalf("perftest: no baseline at %s: record one with `go test -run '^%s$' -perf.update` (or PERFGATE_UPDATE=1), check it, and commit it",
			path, strings.SplitN(tb.Name(), "/", 2)[0])
	}
	if err != nil {
		tb.Fatalf("perftest: %s: bad baseline: %v (fix the file, or re-record it with -perf.update)", r.Name, err)
	}
	if err := base.Healthy(); err != nil {
		tb.Fatalf("perftest: %s: refusing to gate on baseline %v: re-record it from a healthy run with -perf.update", r.Name, err)
	}
	if diff := resultfile.Diff(base, cur, "baseline", "current"); diff != "" {
		if cur.ConfigValue("race") == "on" && base.ConfigValue("race") != "on" {
			tb.Skipf("perftest: %s: not gated: this test binary was built with -race, and timings under the race detector are another setup than baseline %s records; run perf cases without -race to gate them (ci/check does)", r.Name, path)
		}
		if *flagEndpoint != "" && !*flagRequire {
			tb.Skipf("perftest: %s: not gated: -perf.endpoint sent the case to another setup than baseline %s records:\n%s"+
				"To gate runs against this server, record a baseline from it at another path (res.Gate(t, perftest.BaselinePath(...)) per hardware class, or your own path) with -perf.endpoint URL -perf.update, and commit it; -perf.require-baseline makes this a failure instead of a skip.", r.Name, path, diff)
		}
		if bh, ch := base.ConfigValue(metric.KeyHardware), cur.ConfigValue(metric.KeyHardware); bh != "" && bh != ch {
			tb.Fatalf("perftest: %s: baseline %s was recorded on hardware class %q, this run is on %q; refusing to compare unlike runs:\n%s\nKeep one baseline per class: res.Gate(t, perftest.BaselinePath(root, %q)), recorded on each class with -perf.update.", r.Name, path, bh, ch, diff, r.Name)
		}
		tb.Fatalf("perftest: %s: baseline %s was recorded for another setup; refusing to compare unlike runs:\n%s\nIf the change is intended, re-record the baseline with -perf.update.", r.Name, path, diff)
	}
	opt := GateOptions(*flagAlpha, *flagThreshold)
	rep := r.compareSequentially(tb, base, opt)
	// Written once the gate has decided, with what it decided with: perfgate compare and
	// perfgate report reproduce its verdicts from the files.
	r.recordDecision(opt, rep.Sequential)
	r.writeOut(tb)
	r.judge(tb, rep, path)
	return rep
}

// update records the result as the baseline at path (-perf.update), first running it to
// the most repetitions a comparison may take, and refuses a baseline too small for any
// comparison against it to reach significance.
func (r *Result) update(tb testing.TB, path string) {
	tb.Helper()
	extended := false
	if looks, _ := r.looks(); looks != nil && len(r.Reps) < looks[len(looks)-1] {
		// Every later comparison gains from a larger baseline: record it at the most
		// repetitions a comparison may take.
		tb.Logf("perftest: %s: recording the baseline with %d repetitions (Case.MaxCount, -perf.max-count): running %d more", r.Name, looks[len(looks)-1], looks[len(looks)-1]-len(r.Reps))
		r.extend(tb, looks[len(looks)-1]-len(r.Reps))
		extended = true
		if err := r.File().Healthy(); err != nil {
			r.writeOut(tb)
			tb.Errorf("perftest: %s: not written as a baseline: %v", r.Name, err)
			return
		}
	}
	punctual, again := r.punctual(tb)
	if extended || again > 0 {
		r.writeOut(tb) // the files hold what the baseline was recorded from
	}
	if !punctual {
		return
	}
	cur := r.File()
	if err := tooSmall(cur, *flagAlpha); err != nil {
		tb.Errorf("perftest: %s: not written as a baseline: %v", r.Name, err)
		return
	}
	if err := updateBaseline(tb, path, cur); err != nil {
		tb.Fatalf("perftest: %s: %v", r.Name, err)
	}
}

// punctual re-measures, for a baseline, the repetitions whose open-loop client fell
// behind its schedule (metric.MachineLate): a baseline is the reference every later run is
// judged against, so it keeps punctual repetitions only, and the run is not thrown away
// for a few late ones. It gives up, failing the test, after as many re-measurements as the
// run has repetitions (3 at least); it reports whether every repetition is punctual, and
// how many it measured again.
func (r *Result) punctual(tb testing.TB) (ok bool, again int) {
	tb.Helper()
	budget := max(3, len(r.Reps))
	for {
		var late []int
		for i, rep := range r.Reps {
			if isLate(rep) {
				late = append(late, i+1)
			}
		}
		if len(late) == 0 {
			return true, again
		}
		limit := "Case.MaxScheduleLag"
		if r.session != nil {
			limit = fmt.Sprintf("%s %v", r.session.settings.Name("MaxScheduleLag"), r.session.c.maxScheduleLag())
		}
		if r.session == nil || budget < len(late) {
			tb.Errorf("perftest: %s: not written as a baseline: %v: repetitions %v fell behind their schedule (schedule lag p99 over %s), also when measured again: this machine is too busy for the load; record the baseline on a quieter machine, or raise the limit",
				r.Name, ErrScheduleLag, late, limit)
			return false, again
		}
		budget -= len(late)
		again += len(late)
		tb.Logf("perftest: %s: repetitions %v fell behind their schedule (schedule lag p99 over %s): a baseline keeps punctual repetitions only, so they are measured again", r.Name, late, limit)
		r.Reps = slices.DeleteFunc(r.Reps, isLate)
		r.extend(tb, len(late))
	}
}

// isLate reports whether a repetition's open-loop client fell behind its schedule.
func isLate(rep Repetition) bool {
	return slices.ContainsFunc(rep.Metrics, func(m resultfile.Metric) bool { return m.Unit == metric.MachineLate && m.Value > 0 })
}

// tooSmall says why no comparison against f as a baseline could reach significance, even
// with as many current repetitions: with n a side, the smallest one-sided p-value of the
// rank test, 1/C(2n, n), must be below alpha over the number of gated metrics (Holm's
// first step).
func tooSmall(f *resultfile.File, alpha float64) error {
	m := 0
	for _, u := range f.Units {
		if !metric.Default().IsFigure(u) {
			m++
		}
	}
	if !(alpha > 0 && alpha < 1) {
		alpha = gate.DefaultOptions.Alpha
	}
	level := alpha / float64(max(1, m))
	n := len(f.Reps)
	if gate.MinP(n, n) < level {
		return nil
	}
	least := n + 1
	for gate.MinP(least, least) >= level {
		least++
	}
	return fmt.Errorf("with %d repetitions no comparison against it can reach significance (the smallest p-value at %d+%d is %.3g, not below alpha %g over %d metrics): record it with at least %d repetitions (-perf.count, or -perf.max-count for the most a comparison takes)",
		n, n, n, gate.MinP(n, n), alpha, m, least)
}

// judge logs the gate's report, appends it to -perf.summary, and fails (or skips) the test
// by its verdict.
func (r *Result) judge(tb testing.TB, rep *gate.Report, path string) {
	tb.Helper()
	var sb strings.Builder
	_ = rep.WriteText(&sb)
	tb.Logf("perftest: %s against baseline %s:\n%s", r.Name, path, sb.String())
	if *flagSummary != "" {
		if err := rep.AppendMarkdown(*flagSummary); err != nil {
			tb.Errorf("perftest: %s: %v", r.Name, err)
		}
	}
	regs, inc, und := rep.RegressionList(), rep.InconclusiveList(), rep.Undecideds()
	switch {
	case rep.Refusal() != nil:
		tb.Errorf("perftest: %s: not gated against %s: %v", r.Name, path, rep.Refusal())
	case regs != "":
		tb.Errorf("perftest: %s regressed against %s: %s%s", r.Name, path, regs, why(rep))
	case inc != "" && *flagStrict:
		tb.Errorf("perftest: %s is INCONCLUSIVE against %s (-perf.strict fails it): %s; %s%s", r.Name, path, inc, machineText(rep.Noise), why(rep))
	case len(und) > 0:
		tb.Errorf("perftest: %s is UNDECIDED against %s, not passed: at %d baseline and %d current repetitions no regression of %d metrics can be significant, whatever its size; record the baseline with more repetitions and run more (-perf.count, -perf.max-count)",
			r.Name, path, und[0].NBase, und[0].NCur, len(und))
	case inc != "":
		skipped.Add(r.Name, inc)
		busier := "The machine was measurably busier than the baseline's"
		if rep.Noise != nil && rep.Noise.Both {
			busier = "Both machines were saturated"
		}
		tb.Skipf("perftest: %s is INCONCLUSIVE against %s, not failed: %s. %s (%s), which can explain these changes; rerun on a quieter machine to decide, or use -perf.strict to fail such runs%s", r.Name, path, inc, busier, machineText(rep.Noise), why(rep))
	}
}

// compareSequentially compares the result with the baseline and, while the comparison is
// undecided and the case allows more repetitions (Case.MaxCount), runs the next batch and
// looks again, with the p-values of a group-sequential design. Its first look may come
// before Count (-perf.min-count): there it stops only at the no-change boundary or on a
// regression.
func (r *Result) compareSequentially(tb testing.TB, base *resultfile.File, opt gate.Options) *gate.Report {
	tb.Helper()
	var seq *gate.Sequential
	if looks, least := r.looks(); looks != nil {
		seq = &gate.Sequential{Looks: looks, Least: least}
		opt.Sequential = seq
	}
	for {
		rep := gate.Compare(base, r.File(), opt)
		if seq == nil || rep.Refusal() != nil {
			return rep
		}
		if seq.Decide(rep, len(r.Reps)) {
			return rep
		}
		next := seq.Next(len(r.Reps))
		why := rep.Undecided()
		if len(why) == 0 {
			why = seq.Unsettled(rep) // an early look: not every metric within the no-change boundary
		}
		tb.Logf("perftest: %s: undecided after %d repetitions (%s): running %d more", r.Name, len(r.Reps), strings.Join(why, "; "), next-len(r.Reps))
		r.extend(tb, next-len(r.Reps))
	}
}

// recordDecision records in the result's config lines what the gate decided with (see
// gate.DecisionConfig), replacing what an earlier decision recorded.
func (r *Result) recordDecision(opt gate.Options, seq *gate.Sequential) {
	kv := gate.DecisionConfig(opt, seq)
	r.Config = slices.DeleteFunc(slices.Clone(r.Config), func(c resultfile.KV) bool {
		return slices.ContainsFunc(kv, func(d resultfile.KV) bool { return d.Key == c.Key })
	})
	r.Config = append(r.Config, kv...)
	if r.session != nil {
		r.session.decided = kv
	}
}

// BaselinePath is the conventional place of a case's baseline under root:
// root/<hardware class>/<case>.txt, e.g. "baselines/nvidia-h100-80gb-hbm3/PerfChat.txt",
// the class being -perf.hardware or the one detected (see machine.HardwareClass). Pass it to
// Result.Gate so that each class of machine gates on its own baseline:
//
//	res.Gate(t, perftest.BaselinePath("../../baselines", "PerfChat"))
func BaselinePath(root, caseName string) string {
	return filepath.Join(root, hardware(), fileName(caseName)+".txt")
}

// updateBaseline writes cur to path atomically, holding a lock file so that two tests
// writing the same baseline at once cannot interleave, and logs the change from the old
// baseline.
func updateBaseline(tb testing.TB, path string, cur *resultfile.File) error {
	tb.Helper()
	release, err := atomicfile.Lock(path+".lock", 30*time.Second)
	if err != nil {
		return err
	}
	defer release()
	if old, err := resultfile.Read(path); err == nil {
		if diff := resultfile.Diff(old, cur, "old", "new"); diff != "" {
			tb.Logf("perftest: baseline %s: setup changed:\n%s", path, diff)
		} else {
			var sb strings.Builder
			_ = gate.Compare(old, cur, GateOptions(*flagAlpha, *flagThreshold)).WriteText(&sb)
			tb.Logf("perftest: baseline %s: new against old:\n%s", path, sb.String())
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		tb.Logf("perftest: baseline %s: replacing an unreadable file: %v", path, err)
	}
	if err := cur.WriteFile(path); err != nil {
		return err
	}
	tb.Logf("perftest: baseline %s updated (%d repetitions); review and commit it", path, len(cur.Reps))
	return nil
}

// historyEntry summarizes a result as one history entry, stamped now with the commit.
func historyEntry(f *resultfile.File) history.Entry {
	e := history.Entry{Time: time.Now().UTC().Truncate(time.Second), Commit: commit(), Case: f.Name, N: len(f.Reps),
		Hardware: f.ConfigValue(metric.KeyHardware), Medians: map[string]float64{}}
	for _, u := range f.Units {
		e.Medians[u] = robust.Median(f.Values(u))
	}
	return e
}

var commit = sync.OnceValue(func() string {
	if out, err := proc.Output(context.Background(), proc.Limits{Timeout: 10 * time.Second, MaxOutput: 4 << 10}, "git", "rev-parse", "HEAD"); err == nil {
		if c := strings.TrimSpace(string(out)); c != "" {
			return c
		}
	}
	return os.Getenv("GITHUB_SHA")
})

// machineText says what made a machine busier, with both sides' figures when there are.
func machineText(n *gate.Noise) string {
	if n == nil {
		return "no machine figures"
	}
	if n.Summary == "" {
		return n.Why
	}
	return n.Why + "; " + n.Summary
}

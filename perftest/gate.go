package perftest

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Gate compares the result with the baseline at path (relative to the test's package
// folder) and fails the test when a metric regressed: significantly (Mann-Whitney U, Holm
// correction across metrics, -perf.alpha), in the worse direction, and by more than the
// metric's threshold (-perf.threshold overrides). It logs a benchstat-style table either
// way and returns the report.
//
// With -perf.update it writes the result to path instead (atomically, under a lock file)
// and logs how the new baseline differs from the old one. With -perf.history it also
// appends the run's medians to the case's history (see HistoryPath); with -perf.summary
// it appends the report as markdown to that file (CI passes $GITHUB_STEP_SUMMARY). Results carry the
// hardware class (see HardwareClass): a baseline recorded on another class is refused
// with the diff; use BaselinePath to keep one per class. A missing baseline, an unreadable one, or one recorded
// for another setup (backend, model, workload fingerprint, load, ...) fails the test with
// what to do; unlike runs are never compared. With -perf.endpoint the case ran against a
// server other than its baseline's, so a baseline of another setup skips the gate instead.
func (r *Result) Gate(tb testing.TB, path string) *Report {
	tb.Helper()
	cur := r.File()
	cur.Config = withHardware(cur.Config)
	if len(r.Reps) == 0 {
		tb.Fatalf("perftest: %s: no repetitions to gate", r.Name)
	}
	if *flagHistory != "" {
		hp := HistoryPath(*flagHistory, r.Name)
		if err := AppendHistory(hp, r.HistoryEntry()); err != nil {
			tb.Errorf("perftest: %v", err)
		} else {
			tb.Logf("perftest: history: appended to %s (check it with `perfgate history %s`)", hp, hp)
		}
	}
	if *flagUpdate {
		if err := updateBaseline(tb, path, r); err != nil {
			tb.Fatalf("perftest: %v", err)
		}
		return nil
	}
	base, err := ReadResultFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		tb.Fatalf("perftest: no baseline at %s: record one with `go test -run '^%s$' -perf.update` (or PERFGATE_UPDATE=1), check it, and commit it",
			path, strings.SplitN(tb.Name(), "/", 2)[0])
	}
	if err != nil {
		tb.Fatalf("perftest: bad baseline: %v (fix the file, or re-record it with -perf.update)", err)
	}
	if diff := ConfigDiff(base, cur); diff != "" {
		if kvValue(cur.Config, "race") == "on" && kvValue(base.Config, "race") != "on" {
			tb.Skipf("perftest: not gated: this test binary was built with -race, and timings under the race detector are another setup than baseline %s records; run perf cases without -race to gate them (ci/check does)", path)
		}
		if *flagEndpoint != "" {
			tb.Skipf("perftest: not gated: -perf.endpoint sent the case to another setup than baseline %s records (-baseline +current):\n%s", path, diff)
		}
		if bh, ch := kvValue(base.Config, hardwareKey), kvValue(cur.Config, hardwareKey); bh != "" && bh != ch {
			tb.Fatalf("perftest: baseline %s was recorded on hardware class %q, this run is on %q; refusing to compare unlike runs (-baseline +current):\n%s\nKeep one baseline per class: res.Gate(t, perftest.BaselinePath(root, %q)), recorded on each class with -perf.update.", path, bh, ch, diff, r.Name)
		}
		tb.Fatalf("perftest: baseline %s was recorded for another setup; refusing to compare unlike runs (-baseline +current):\n%s\nIf the change is intended, re-record the baseline with -perf.update.", path, diff)
	}
	rep := Compare(base, cur, Options{Alpha: *flagAlpha, Threshold: *flagThreshold})
	var sb strings.Builder
	_ = rep.WriteText(&sb)
	tb.Logf("perftest: %s against baseline %s:\n%s", r.Name, path, sb.String())
	if *flagSummary != "" {
		if err := appendMarkdown(*flagSummary, rep); err != nil {
			tb.Errorf("perftest: %v", err)
		}
	}
	if regs := rep.Regressions(); len(regs) > 0 {
		var names []string
		for _, d := range regs {
			names = append(names, fmt.Sprintf("%s %s (p=%.3g, threshold %s)", d.Unit, fmtChange(d.Change), d.PAdj, fmtPct(d.Threshold)))
		}
		tb.Errorf("perftest: %s regressed against %s: %s", r.Name, path, strings.Join(names, "; "))
	}
	return rep
}

// updateBaseline writes r to path atomically, holding a lock file so that two tests
// writing the same baseline at once cannot interleave, and logs the change from the old
// baseline.
func updateBaseline(tb testing.TB, path string, r *Result) error {
	tb.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("update baseline: %w", err)
	}
	unlock, err := lockFile(path+".lock", 30*time.Second)
	if err != nil {
		return err
	}
	defer unlock()
	withHW := *r
	withHW.Config = withHardware(r.Config)
	r = &withHW
	if old, err := ReadResultFile(path); err == nil {
		if diff := ConfigDiff(old, r.File()); diff != "" {
			tb.Logf("perftest: baseline %s: setup changed (-old +new):\n%s", path, diff)
		} else {
			var sb strings.Builder
			_ = Compare(old, r.File(), Options{Alpha: *flagAlpha, Threshold: *flagThreshold}).WriteText(&sb)
			tb.Logf("perftest: baseline %s: new against old:\n%s", path, sb.String())
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		tb.Logf("perftest: baseline %s: replacing an unreadable file: %v", path, err)
	}
	if err := writeFileAtomic(path, func(w io.Writer) error { _, err := r.WriteTo(w); return err }); err != nil {
		return fmt.Errorf("update baseline: %w", err)
	}
	tb.Logf("perftest: baseline %s updated (%d repetitions); review and commit it", path, len(r.Reps))
	return nil
}

// lockFile creates path exclusively, waiting up to wait for another holder to finish.
func lockFile(path string, wait time.Duration) (unlock func(), err error) {
	deadline := time.Now().Add(wait)
	for {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err == nil {
			fmt.Fprintf(f, "%d\n", os.Getpid())
			f.Close()
			return func() { os.Remove(path) }, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("lock %s: held for over %s by another writer (remove it if no test is running)", path, wait)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kvValue returns the value of key in cfg ("" if absent).
func kvValue(cfg []KV, key string) string {
	for _, kv := range cfg {
		if kv.Key == key {
			return kv.Value
		}
	}
	return ""
}

// appendMarkdown appends the report as markdown to path in one write, so that parallel
// cases appending to the same file do not interleave.
func appendMarkdown(path string, rep *Report) error {
	var sb strings.Builder
	if err := rep.WriteMarkdown(&sb); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("append summary: %w", err)
	}
	if _, err := f.WriteString(sb.String()); err != nil {
		f.Close()
		return fmt.Errorf("append summary %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("append summary %s: %w", path, err)
	}
	return nil
}

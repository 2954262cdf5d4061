package perftest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sync/atomic"
	"testing"
	"time"

	"github.com/perfgate/perfgate/internal/termtext"
	"github.com/perfgate/perfgate/perftest/engines"
	"github.com/perfgate/perfgate/perftest/machine"
)

// Run runs a perf case: it replays the workload against the target Count times
// (-perf.count when 0) and returns the per-repetition metrics. When MaxCount (-perf.max-count)
// is above Count, so that Result.Gate may take more, Run runs only the gate's first look,
// -perf.min-count (5) when at most two thirds of Count: Result.Gate stops there when every metric is
// within its threshold (the no-change boundary), else runs on to Count and beyond as before. With -perf.endpoint the case
// goes to that server instead of its Target. A bad Case fails the test with a message saying
// what to set. Failed requests are counted, not fatal; after the run the case fails on the
// result's Problems (an error rate over Case.MaxErrorRate, a load the client did not
// deliver). With -perf.out the result file and per-request records are written there, also
// when the run is cut short by the test's deadline or an interrupt.
func Run(tb testing.TB, c Case) *Result {
	tb.Helper()
	c, err := withFlags(c)
	if err != nil {
		tb.Fatalf("perftest: %v", err)
	}
	if err := c.Validate(); err != nil {
		tb.Fatalf("perftest: bad Case:\n%v", err)
	}
	ctx, stop := runContext(tb)
	s, err := NewSession(ctx, c, execOptions(tb.Name(), tb.Logf))
	if err != nil {
		stop()
		tb.Fatalf("perftest: %s", termtext.Text(err.Error()))
	}
	tb.Cleanup(s.Close)
	first := c.count()
	if looks, _ := c.gateLooks(*flagMinCount); looks != nil {
		first = looks[0] // Result.Gate runs more while the comparison is undecided
	}
	res, runErr := s.run(ctx, first, true)
	res.session = s
	res.finish(tb, stop, runErr, 0, true)
	return res
}

// extend runs n more repetitions of a result Run returned, for a sequential comparison,
// and reports as Run does; problems already reported are not repeated. The files go to
// -perf.out only when the run is cut short: the caller writes them once it has decided
// (Gate, with what it decided with).
func (r *Result) extend(tb testing.TB, n int) {
	tb.Helper()
	known := len(r.Problems)
	ctx, stop := runContext(tb)
	_, err := r.session.run(ctx, n, false)
	r.finish(tb, stop, err, known, false)
}

// finish ends a run of repetitions: it writes the files to -perf.out when write is set or
// the run was cut short (also after an interrupt, which it then lets end the test binary),
// fails the test when the run could not finish, logs the summary and fails the test on the
// problems from the skip-th on.
func (r *Result) finish(tb testing.TB, stop func() bool, runErr error, skip int, write bool) {
	tb.Helper()
	interrupted := stop()
	if write || interrupted || runErr != nil {
		r.writeOut(tb)
	}
	if interrupted {
		// The results are written: now let the interrupt end the test binary as it would have.
		tb.Logf("perftest: %s: interrupted after %d of %d repetitions; results written", r.Name, len(r.Reps), r.count)
		reraiseInterrupt()
	}
	// A run's error and problems carry a server's words: escaped for the test log.
	if runErr != nil {
		tb.Fatalf("perftest: %s: %s (%d of %d repetitions finished)", r.Name, termtext.Line(runErr.Error()), len(r.Reps), r.count)
	}
	tb.Logf("%s", r.Summary())
	for _, p := range r.Problems[min(skip, len(r.Problems)):] {
		tb.Errorf("perftest: %s: %s", r.Name, termtext.Line(p.Error()))
	}
}

// writeOut writes the result files to -perf.out, when it is set.
func (r *Result) writeOut(tb testing.TB) {
	tb.Helper()
	if *flagOut == "" {
		return
	}
	path, err := r.WriteFiles(*flagOut)
	if err != nil {
		tb.Errorf("perftest: %v", err)
	} else {
		tb.Logf("results: %s (records beside it)", path)
	}
}

// withFlags applies the flags of the test binary to a case: -perf.endpoint replaces the
// target (the engine -perf.engine names, when set, so that its cache is reset and its
// metrics read), -perf.count and -perf.max-count give the counts the case does not set.
func withFlags(c Case) (Case, error) {
	if *flagEndpoint != "" {
		t, err := flagTarget(*flagEndpoint, *flagEngine)
		if err != nil {
			return c, err
		}
		c.Target = t
	} else if *flagEngine != "" {
		return c, fmt.Errorf("-perf.engine %s (PERFGATE_ENGINE) names the engine of the server -perf.endpoint gives: set -perf.endpoint URL too", *flagEngine)
	}
	if c.Count == 0 {
		c.Count = *flagCount
	}
	if c.MaxCount == 0 {
		c.MaxCount = cmp.Or(*flagMaxCount, 3*c.count())
	}
	if c.MaxScheduleLag == 0 {
		c.MaxScheduleLag = *flagMaxLag
	}
	return c, nil
}

// flagTarget is the server at url: a plain endpoint, or engine's endpoint (an engine module
// linked into the test binary registers its name in perftest/engines).
func flagTarget(url, engine string) (Target, error) {
	if engine == "" {
		return Endpoint(url), nil
	}
	t, err := engines.Endpoint(engine, url)
	if err != nil {
		return nil, fmt.Errorf("-perf.engine %s (PERFGATE_ENGINE): %w", engine, err)
	}
	return t, nil
}

// execOptions are the session options of a case run by a test.
func execOptions(name string, logf func(string, ...any)) ExecOptions {
	return ExecOptions{Name: name, Logf: logf, Hardware: hardware(), Settings: testSettings}
}

// testSettings name, in a go test's messages, the flags of the test binary beside the
// Case fields they stand in for.
var testSettings = Settings{
	"MaxScheduleLag": "Case.MaxScheduleLag (-perf.max-schedule-lag)",
}

// hardware is the hardware class results record: -perf.hardware, else the detected one.
func hardware() string {
	if *flagHardware != "" {
		return machine.NormalizeClass(*flagHardware)
	}
	return machine.HardwareClass()
}

// runContext is the context a perf case runs under: the test's, ended a little before the
// test binary's -timeout deadline (which panics without cancelling anything) and on an
// interrupt, so that a cut-short run still writes what it measured. stop reports whether an
// interrupt arrived, and restores the default interrupt handling.
func runContext(tb testing.TB) (context.Context, func() (interrupted bool)) {
	ctx := tb.Context()
	cancelDeadline := func() {}
	if d, ok := tb.(interface{ Deadline() (time.Time, bool) }); ok {
		if dl, ok := d.Deadline(); ok {
			grace := min(10*time.Second, time.Until(dl)/10)
			ctx, cancelDeadline = context.WithDeadlineCause(ctx, dl.Add(-grace), errors.New("the test's -timeout deadline is near"))
		}
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)
	ctx, cancel := context.WithCancelCause(ctx)
	var got atomic.Bool
	done := make(chan struct{})
	go func() {
		select {
		case <-sig:
			got.Store(true)
			cancel(errors.New("interrupted"))
		case <-done:
		}
	}()
	return ctx, func() bool {
		signal.Stop(sig)
		close(done)
		cancel(nil)
		cancelDeadline()
		return got.Load()
	}
}

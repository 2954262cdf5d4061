package perftest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
)

// ABOptions configure RunAB.
type ABOptions struct {
	// Name names the case when Case.Name is empty (AB passes the test's name).
	Name string
	// Logf, when set, receives one line per finished repetition.
	Logf func(format string, args ...any)
}

// ABOrder is the order RunAB runs repetitions in for a count: ABBA blocks (A B, B A, A B, ...).
// A steady drift of the machine (warming up, a neighbour's load ramping) then adds the same
// amount to both sides on average; plain ABAB would always give B the later slot.
func ABOrder(count int) string {
	var sb strings.Builder
	for i := range count {
		if i%2 == 0 {
			sb.WriteString("AB")
		} else {
			sb.WriteString("BA")
		}
	}
	return sb.String()
}

// RunAB runs case c against two targets, a and b, in interleaved repetitions (see ABOrder):
// the way to measure a small difference between two builds on one machine, because drift
// of the machine over the run cancels instead of landing on one side. Each side is warmed
// up first, as Run does, and each repetition starts with a prefix-cache reset where the
// server supports one. It returns both results (partial ones with the error when the run
// was cut short); compare them with Compare(ra.File(), rb.File(), ...).
func RunAB(ctx context.Context, c Case, a, b Target, opt ABOptions) (ra, rb *Result, err error) {
	if *flagEndpoint != "" {
		return nil, nil, errors.New("perftest: A/B runs send the case to two targets; -perf.endpoint would replace both (unset it)")
	}
	if a == nil || b == nil {
		return nil, nil, errors.New("perftest: A/B needs two targets, got nil")
	}
	ca, cb := c, c
	ca.Target, cb.Target = a, b
	if err := ca.Validate(); err != nil {
		return nil, nil, fmt.Errorf("bad Case:\n%w", err)
	}
	var runners [2]*runner
	for i, cc := range []Case{ca, cb} {
		r, err := newRunner(ctx, opt.Name, cc)
		if err != nil {
			return nil, nil, fmt.Errorf("%c: %w", 'A'+i, err)
		}
		defer r.client.close()
		runners[i] = r
	}
	ra, rb = runners[0].result, runners[1].result
	count := c.Count
	if count == 0 {
		count = *flagCount
	}
	count = max(count, 1)
	warm := c.Warmup
	if warm == 0 {
		warm = max(c.Load.Concurrency, 1)
	}
	if warm > 0 {
		for i, r := range runners {
			if _, err := r.repetition(ctx, warm); err != nil {
				return ra, rb, fmt.Errorf("%c: warm-up: %w", 'A'+i, err)
			}
		}
	}
	reset := [2]string{"yes", "yes"}
	for i, side := range ABOrder(count) {
		k := int(side - 'A')
		r := runners[k]
		if ctx.Err() != nil {
			ra.Partial, rb.Partial = true, true
			return ra, rb, fmt.Errorf("stopped: %w", context.Cause(ctx))
		}
		if !r.resetCache(ctx) {
			reset[k] = "no"
		}
		rep, err := r.repetition(ctx, 0)
		if ctx.Err() != nil || err != nil {
			ra.Partial, rb.Partial = true, true
			if err == nil {
				err = context.Cause(ctx)
			}
			return ra, rb, fmt.Errorf("%c: repetition %d: %w", side, len(r.result.Reps)+1, err)
		}
		r.result.Reps = append(r.result.Reps, rep)
		if opt.Logf != nil {
			opt.Logf("perftest: A/B: %d/%d: %c repetition %d done (%d requests)", i+1, 2*count, side, len(r.result.Reps), rep.Requests)
		}
	}
	for k, r := range runners {
		r.result.Config = withHardware(append(r.result.Config, KV{"cache-reset", reset[k]}))
	}
	return ra, rb, nil
}

// AB runs case c against targets a and b in interleaved repetitions (see RunAB and
// ABOrder) and compares B against A with the gate's statistics (-perf.alpha,
// -perf.threshold): the way to reproduce a regression locally between two builds, each
// served on its own port. It logs the table and how the two setups differ, writes
// NAME.A.txt and NAME.B.txt to -perf.out when set (benchstat reads them), fails the test
// when B regressed against A, and returns the report.
//
//	rep := perftest.AB(t, c, perftest.Endpoint("http://127.0.0.1:8000"), perftest.Endpoint("http://127.0.0.1:8001"))
func AB(tb testing.TB, c Case, a, b Target) *Report {
	tb.Helper()
	ra, rb, err := RunAB(tb.Context(), c, a, b, ABOptions{Name: tb.Name(), Logf: tb.Logf})
	if ra != nil && *flagOut != "" {
		for _, s := range []struct {
			side string
			r    *Result
		}{{"A", ra}, {"B", rb}} {
			path := filepath.Join(*flagOut, fileName(s.r.Name)+"."+s.side+".txt")
			if werr := writeFileAtomic(path, func(w io.Writer) error { _, err := s.r.WriteTo(w); return err }); werr != nil {
				tb.Errorf("perftest: %v", werr)
			} else {
				tb.Logf("perftest: A/B: %s results: %s", s.side, path)
			}
		}
	}
	if err != nil {
		tb.Fatalf("perftest: A/B: %v", err)
	}
	fa, fb := ra.File(), rb.File()
	fa.Path, fb.Path = ra.Name+" (A)", rb.Name+" (B)"
	if diff := ConfigDiff(fa, fb); diff != "" {
		tb.Logf("perftest: A/B: the two targets describe themselves differently (-A +B):\n%s", diff)
	}
	rep := Compare(fa, fb, Options{Alpha: *flagAlpha, Threshold: *flagThreshold})
	var sb strings.Builder
	_ = rep.WriteText(&sb)
	tb.Logf("perftest: A/B %s, B against A, order %s:\n%s", ra.Name, ABOrder(len(ra.Reps)), sb.String())
	if regs := rep.Regressions(); len(regs) > 0 {
		var names []string
		for _, d := range regs {
			names = append(names, fmt.Sprintf("%s %s (p=%.3g, threshold %s)", d.Unit, fmtChange(d.Change), d.PAdj, fmtPct(d.Threshold)))
		}
		tb.Errorf("perftest: A/B %s: B regressed against A: %s", ra.Name, strings.Join(names, "; "))
	}
	return rep
}

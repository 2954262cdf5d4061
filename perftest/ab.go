package perftest

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/perfgate/perfgate/perftest/gate"
	"github.com/perfgate/perfgate/perftest/resultfile"
)

// abOrder is the order RunAB runs repetitions in: ABBA blocks (A B, B A, A B, ...). A steady
// drift of the machine (warming up, a neighbour's load ramping) then adds the same amount to
// both sides on average; plain ABAB would always give B the later slot.
func abOrder(count int) string {
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

// RunAB runs case c against two targets, a and b, in interleaved repetitions (A B B A A B
// ...), Case.Count a side: the way to measure a small difference between two builds on one
// machine, because drift of the machine over the run cancels instead of landing on one side.
// Each side is warmed up first, as Execute does, and each repetition starts with a
// prefix-cache reset where the target can. opt.Logf receives one line per finished
// repetition. It returns both results (partial ones with the error when the run was cut
// short); compare them with gate.Compare(ra.File(), rb.File(), GateOptions(...)).
func RunAB(ctx context.Context, c Case, a, b Target, opt ExecOptions) (ra, rb *Result, err error) {
	if a == nil || b == nil {
		return nil, nil, errors.New("A/B needs two targets, got nil")
	}
	var sessions [2]*Session
	for i, t := range []Target{a, b} {
		side := c
		side.Target = t
		s, err := NewSession(ctx, side, opt)
		if err != nil {
			return nil, nil, fmt.Errorf("%c: %w", 'A'+i, err)
		}
		defer s.Close()
		sessions[i] = s
	}
	results := func() (*Result, *Result) { return sessions[0].Result(), sessions[1].Result() }
	for i, s := range sessions {
		if err := s.Warmup(ctx); err != nil {
			ra, rb = results()
			return ra, rb, fmt.Errorf("%c: %w", 'A'+i, err)
		}
	}
	order := abOrder(c.count())
	for i, side := range order {
		s := sessions[side-'A']
		if err := s.Repeat(ctx); err != nil {
			ra, rb = results()
			ra.Partial, rb.Partial = true, true
			return ra, rb, fmt.Errorf("%c: %w", side, err)
		}
		if opt.Logf != nil {
			opt.Logf("perftest: A/B: %d/%d: %c repetition %d done (%d requests)", i+1, len(order), side, len(s.result.Reps), s.result.Reps[len(s.result.Reps)-1].Requests)
		}
	}
	ra, rb = results()
	return ra, rb, nil
}

// AB runs case c against targets a and b in interleaved repetitions (see RunAB) and
// compares B against A with the gate's statistics (-perf.alpha, -perf.threshold): the way to
// reproduce a regression locally between two builds, each served on its own port. It logs
// the table and how the two setups differ, writes NAME.A.txt and NAME.B.txt to -perf.out
// when set (benchstat reads them), fails the test when B regressed against A, and returns
// the report. -perf.endpoint cannot name two servers, so AB refuses it.
//
//	rep := perftest.AB(t, c, perftest.Endpoint("http://127.0.0.1:8000"), perftest.Endpoint("http://127.0.0.1:8001"))
func AB(tb testing.TB, c Case, a, b Target) *gate.Report {
	tb.Helper()
	if *flagEndpoint != "" {
		tb.Fatalf("perftest: A/B: the case goes to two targets, and -perf.endpoint (or PERFGATE_ENDPOINT) would replace both: unset it")
	}
	if c.Count == 0 {
		c.Count = *flagCount
	}
	ra, rb, err := RunAB(tb.Context(), c, a, b, execOptions(tb.Name(), tb.Logf))
	if ra != nil && *flagOut != "" {
		for side, r := range map[string]*Result{"A": ra, "B": rb} {
			path := filepath.Join(*flagOut, fileName(r.Name)+"."+side+".txt")
			if werr := r.File().WriteFile(path); werr != nil {
				tb.Errorf("perftest: %v", werr)
			} else {
				tb.Logf("perftest: A/B: %s results: %s", side, path)
			}
		}
	}
	if err != nil {
		tb.Fatalf("perftest: A/B: %v", err)
	}
	for side, r := range map[string]*Result{"A": ra, "B": rb} {
		for _, p := range r.Problems {
			tb.Errorf("perftest: A/B %s: side %s: %v", r.Name, side, p)
		}
	}
	if len(ra.Problems)+len(rb.Problems) > 0 {
		return nil // an unhealthy side's numbers do not describe the load: nothing to compare
	}
	fa, fb := ra.File(), rb.File()
	fa.Path, fb.Path = ra.Name+" (A)", rb.Name+" (B)"
	if diff := resultfile.Diff(fa, fb, "A", "B"); diff != "" {
		tb.Logf("perftest: A/B: the two targets describe themselves differently:\n%s", diff)
	}
	rep := gate.Compare(fa, fb, GateOptions(*flagAlpha, *flagThreshold))
	var sb strings.Builder
	_ = rep.WriteText(&sb)
	tb.Logf("perftest: A/B %s, B against A, order %s:\n%s", ra.Name, abOrder(len(ra.Reps)), sb.String())
	if regs := rep.RegressionList(); regs != "" {
		tb.Errorf("perftest: A/B %s: B regressed against A: %s", ra.Name, regs)
	}
	return rep
}

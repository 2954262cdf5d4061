package perftest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/perfgate/perfgate/internal/termtext"
	"github.com/perfgate/perfgate/perftest/gate"
	"github.com/perfgate/perfgate/perftest/internal/skipped"
	"github.com/perfgate/perfgate/perftest/metric"
	"github.com/perfgate/perfgate/perftest/progress"
	"github.com/perfgate/perfgate/perftest/resultfile"
)

// abOrder is the order RunAB runs count repetitions a side in: whole blocks of A B B A (or
// B A A B, as the seed chose, see gate.PairedOrder), count rounded up to even. A steady drift
// of the machine (warming up, a neighbour's load ramping) then adds the same amount to both
// sides at every block boundary; plain ABAB would always give B the later slot.
func abOrder(o gate.PairedOrder, count int) string { return o.Sides((count + 1) / 2) }

// wholeBlocks rounds a count, and every look of a design, up to whole ABBA blocks (an even
// number of repetitions a side), so that the sequential looks fall on block boundaries.
func wholeBlocks(n int) int { return n + n%2 }

// blockLooks returns looks rounded up to whole blocks, duplicates dropped.
func blockLooks(looks []int) []int {
	var out []int
	for _, l := range looks {
		if l = wholeBlocks(l); len(out) == 0 || out[len(out)-1] < l {
			out = append(out, l)
		}
	}
	return out
}

// RunAB runs case c against two targets, a and b, in interleaved repetitions, Case.Count a
// side rounded up to whole blocks of A B B A (or B A A B: opt.OrderSeed chooses, see
// gate.PairedOrder), and compares them pair by pair (gate.Options.Paired: repetition i of B
// against repetition i of A, run back to back): the way to measure a small difference
// between two builds on one machine, because drift of the machine over the run cancels in
// each pair instead of landing on one side. Both results record the order
// (metric.KeyABOrder), so that comparing the files pairs them too.
// Each side is warmed up first, as Execute does, and each repetition starts with a
// prefix-cache reset where the target can. With Case.MaxCount above Count the run is
// sequential: after Count a side it compares B with A (opt.Compare, else GateOptions(0, 0))
// and, while that is undecided, runs Count/2 more a side and looks again, up to MaxCount
// (see gate.Sequential); both results then record the design (gate.ReadSequential reads
// it back). opt.Progress (else opt.Logf) receives one progress line per finished
// repetition, counting both sides, and opt.Logf a line per look. It returns both results
// (partial ones with the error when the run was cut short); compare them with
// gate.CompareAsRecorded(ra.File(), rb.File(), opt).
func RunAB(ctx context.Context, c Case, a, b Target, opt ExecOptions) (ra, rb *Result, err error) {
	if a == nil || b == nil {
		return nil, nil, errors.New("A/B needs two targets, got nil")
	}
	c.Count = wholeBlocks(c.count())
	seed := opt.OrderSeed
	if seed == 0 {
		seed = rand.Uint64()
	}
	r := &abRun{opt: opt, logf: opt.Logf, order: gate.NewPairedOrder(seed)}
	if r.logf == nil {
		r.logf = func(string, ...any) {}
	}
	defer r.close()
	if err := r.open(ctx, c, a, b); err != nil {
		return nil, nil, err
	}
	for i, s := range r.sessions {
		if err := s.Warmup(ctx); err != nil {
			ra, rb = r.results()
			return ra, rb, fmt.Errorf("%c: %w", 'A'+i, err)
		}
	}
	if looks := c.looks(); looks != nil {
		r.seq = &gate.Sequential{Looks: blockLooks(looks), Paired: true}
		r.sessions[0].seq, r.sessions[1].seq = r.seq, r.seq
	}
	r.cmpOpt = GateOptions(0, 0)
	if opt.Compare != nil {
		r.cmpOpt = *opt.Compare
	}
	r.cmpOpt.Sequential = r.seq
	r.cmpOpt.Paired = true
	for _, s := range r.sessions {
		// Both results record what B is judged against A with, and the order that pairs
		// them, so that perfgate compare and perfgate report reproduce the verdict from
		// the files.
		s.decided = append(gate.DecisionConfig(r.cmpOpt, r.seq), resultfile.KV{Key: metric.KeyABOrder, Value: r.order.ConfigValue()})
	}
	r.meter = progress.NewMeter(r.sessions[0].result.Name+": A/B repetition", 2*c.count(), time.Now())
	return r.rounds(ctx, c.count())
}

// abRun is an A/B run under way: the sessions of both sides, and what decides when it
// stops.
type abRun struct {
	sessions [2]*Session
	opt      ExecOptions
	logf     func(string, ...any)
	seq      *gate.Sequential // nil: a fixed number of repetitions
	order    gate.PairedOrder
	cmpOpt   gate.Options
	meter    *progress.Meter
}

// open starts a session per side; the run's progress is both sides', so theirs is silent.
func (r *abRun) open(ctx context.Context, c Case, a, b Target) error {
	sideOpt := r.opt
	sideOpt.Progress = func(progress.State) {}
	for i, t := range []Target{a, b} {
		side := c
		side.Target = t
		s, err := NewSession(ctx, side, sideOpt)
		if err != nil {
			return fmt.Errorf("%c: %w", 'A'+i, err)
		}
		r.sessions[i] = s
	}
	return nil
}

// close closes the sessions opened, B's first.
func (r *abRun) close() {
	for i := len(r.sessions) - 1; i >= 0; i-- {
		if r.sessions[i] != nil {
			r.sessions[i].Close()
		}
	}
}

func (r *abRun) results() (*Result, *Result) { return r.sessions[0].Result(), r.sessions[1].Result() }

// counters sums both sides' finished and failed requests, warm-ups left out.
func (r *abRun) counters() (done, failed int64) {
	for _, s := range r.sessions {
		d, f := s.counters()
		done, failed = done+d, failed+f
	}
	return done, failed
}

// rounds runs target repetitions a side in ABBA order and, when the run is sequential and
// the comparison undecided, more rounds up to the design's last look.
func (r *abRun) rounds(ctx context.Context, target int) (ra, rb *Result, err error) {
	for done := 0; ; {
		order := abOrder(r.order, target)
		r.meter.SetSteps(len(order))
		for _, side := range order[2*done:] {
			if err := r.repeat(ctx, side); err != nil {
				ra, rb = r.results()
				ra.Partial, rb.Partial = true, true
				return ra, rb, fmt.Errorf("%c: %w", side, err)
			}
		}
		done = target
		ra, rb = r.results()
		if r.seq == nil || len(ra.Problems)+len(rb.Problems) > 0 {
			return ra, rb, nil
		}
		rep := gate.Compare(ra.File(), rb.File(), r.cmpOpt)
		if r.seq.Decide(rep, done) {
			r.logf("perftest: A/B: %s", r.seq)
			return ra, rb, nil
		}
		target = r.seq.Next(done)
		r.logf("perftest: A/B: undecided after %d repetitions a side (%s): running %d more a side", done, strings.Join(rep.Undecided(), "; "), target-done)
	}
}

// repeat runs one repetition of a side ('A' or 'B') and reports the run's progress.
func (r *abRun) repeat(ctx context.Context, side rune) error {
	s := r.sessions[side-'A']
	n, _ := r.counters()
	r.meter.StartStep(n)
	if err := s.Repeat(ctx); err != nil {
		return err
	}
	if len(s.result.Reps) == 1 && side == 'A' {
		r.meter.ExpectPerStep(int64(s.result.Reps[0].Requests))
	}
	n, failed := r.counters()
	st := r.meter.State(time.Now(), n, failed, true)
	st.Detail = fmt.Sprintf("%c %d", side, len(s.result.Reps))
	switch {
	case r.opt.Progress != nil:
		r.opt.Progress(st)
	case r.opt.Logf != nil:
		r.opt.Logf("perftest: %s", st)
	}
	return nil
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
	if c.MaxCount == 0 {
		c.MaxCount = cmp.Or(*flagMaxCount, 3*c.count())
	}
	opt := execOptions(tb.Name(), tb.Logf)
	gopt := GateOptions(*flagAlpha, *flagThreshold)
	opt.Compare = &gopt
	ra, rb, err := RunAB(tb.Context(), c, a, b, opt)
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
		tb.Logf("perftest: A/B: the two targets describe themselves differently:\n%s", termtext.Text(diff))
	}
	rep, err := gate.CompareAsRecorded(fa, fb, gopt)
	if err != nil {
		tb.Fatalf("perftest: A/B: %v", err)
	}
	var sb strings.Builder
	_ = rep.WriteText(&sb)
	order := "?"
	if o, ok, _ := gate.ReadPairedOrder(fb); ok {
		order = abOrder(o, len(ra.Reps))
	}
	tb.Logf("perftest: A/B %s, B against A, paired, order %s:\n%s", ra.Name, order, sb.String())
	regs, inc, und := rep.RegressionList(), rep.InconclusiveList(), rep.Undecideds()
	switch {
	case rep.Refusal() != nil:
		tb.Errorf("perftest: A/B %s: not compared: %v", ra.Name, rep.Refusal())
	case regs != "":
		tb.Errorf("perftest: A/B %s: B regressed against A: %s%s", ra.Name, regs, why(rep))
	case len(und) > 0:
		tb.Errorf("perftest: A/B %s is UNDECIDED, not passed: at %d repetitions a side no regression of %d metrics can be significant, whatever its size; run more (Case.Count, -perf.count; Case.MaxCount, -perf.max-count)", ra.Name, und[0].NCur, len(und))
	case inc != "" && *flagStrict:
		tb.Errorf("perftest: A/B %s: INCONCLUSIVE (-perf.strict fails it): %s; %s", ra.Name, inc, machineText(rep.Noise))
	case inc != "":
		skipped.Add("A/B "+ra.Name, inc)
		tb.Skipf("perftest: A/B %s: INCONCLUSIVE, not failed: %s. One side's machine was measurably busier (%s), which can explain these changes; rerun on a quieter machine to decide, or use -perf.strict to fail such runs", ra.Name, inc, machineText(rep.Noise))
	}
	return rep
}

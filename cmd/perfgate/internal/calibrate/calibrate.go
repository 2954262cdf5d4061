// Package calibrate measures how far perfgate's client can be trusted on a machine: it runs
// perf cases through the public runner (perftest.Execute) against an in-process streaming
// server that records when it sent every chunk, and reports the client's timing bias and
// error, its pacing at a high open-loop rate, and its memory per in-flight stream.
//
// The server behaves like an engine by default (Burst): one step loop writes one token to
// every active stream per step, and records each chunk's time when its write returned.
// The time the step takes to hand its last chunk to the kernel, the burst's drain time, is
// the floor of what any client on the machine can resolve, and is reported beside the
// client's error. PerStream gives every stream its own timer and records each chunk just
// before its write, as earlier versions did.
package calibrate

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"iter"
	"text/tabwriter"
	"time"

	"github.com/perfgate/perfgate/fixtures"
	"github.com/perfgate/perfgate/perftest"
)

// Mode says how the calibration server paces its streams.
type Mode int

// Modes of the calibration server.
const (
	// Burst: one step loop writes the next token of every active stream each ITL, as an
	// engine emits one token per sequence of its batch per step; each chunk is stamped
	// after its write returns. A new stream gets its response headers at once, as from an
	// engine's HTTP server, and joins the first step TTFT after it arrived.
	Burst Mode = iota
	// PerStream: each stream sleeps TTFT, then ITL between tokens, on its own timer; each
	// chunk is stamped just before it is written, the headers with the first.
	PerStream
)

func (m Mode) String() string {
	if m == PerStream {
		return "per-stream"
	}
	return "burst"
}

// Options configures Run. The zero value measures 1, 64, 512 and 2,048 streams in burst
// mode and open-loop pacing at 2,000 requests/s.
type Options struct {
	// Mode is how the server paces its streams (default Burst).
	Mode Mode
	// Streams lists the concurrent stream counts to measure accuracy at (default 1, 64,
	// 512, 2048).
	Streams []int
	// Tokens per request (default 64), TTFT and ITL of the ground-truth server (default 20 ms
	// and 10 ms; in burst mode ITL is the step).
	Tokens    int
	TTFT, ITL time.Duration
	// Rate is the open-loop rate of the pacing probe (default 2000/s), for PacingRequests
	// requests (default 4000). A negative Rate skips the probe.
	Rate           float64
	PacingRequests int
	// MemoryStreams is the number of held-open streams used to measure memory per in-flight
	// stream (default 1000; negative skips).
	MemoryStreams int
}

// DefaultStreams are the stream counts Run measures when Options.Streams is empty.
var DefaultStreams = []int{1, 64, 512, 2048}

// Calibration says how far the client's numbers can be trusted on this machine.
type Calibration struct {
	Mode     Mode
	Accuracy []Accuracy
	// Pacing at the requested open-loop rate.
	RequestedRate, AchievedRate float64
	LagP50, LagP99              time.Duration
	// MemoryPerStream is the client's heap growth per held-open stream, in bytes, less
	// ServerMemoryPerStream, the in-process server's (the growth with a bare client that
	// holds as many streams with a connection and a request each).
	MemoryPerStream, ServerMemoryPerStream float64
	MemoryStreams                          int
}

// Accuracy compares the client's stamps with the server's at one concurrency.
type Accuracy struct {
	Streams int
	Tokens  int // token events compared
	// Bias is the median of (client stamp - server stamp); P99Err the 99th percentile of its
	// distance from the bias (the jitter a measurement can carry).
	TTFTBias, TTFTP99Err time.Duration
	ITLBias, ITLP99Err   time.Duration
	// DrainP50 and DrainP99 are percentiles of the burst drain time, from a step's first
	// write to the return of its last (burst mode; 0 otherwise).
	DrainP50, DrainP99 time.Duration
}

// Run runs the client against an in-process streaming server that records when it sent
// every chunk, and reports the client's timing bias and error, its pacing at a high
// open-loop rate, and its memory per in-flight stream. Both sides share the process's clock,
// so the comparison is exact up to the HTTP stack and the client itself.
func Run(ctx context.Context, opt Options) (*Calibration, error) {
	if len(opt.Streams) == 0 {
		opt.Streams = DefaultStreams
	}
	opt.Tokens = cmp.Or(opt.Tokens, 64)
	opt.TTFT = cmp.Or(opt.TTFT, 20*time.Millisecond)
	opt.ITL = cmp.Or(opt.ITL, 10*time.Millisecond)
	opt.Rate = cmp.Or(opt.Rate, 2000)
	opt.PacingRequests = cmp.Or(opt.PacingRequests, 4000)
	opt.MemoryStreams = cmp.Or(opt.MemoryStreams, 1000)

	gt, err := startTruthServer()
	if err != nil {
		return nil, err
	}
	defer gt.close()
	cal := &Calibration{Mode: opt.Mode}
	for _, n := range opt.Streams {
		gt.reset(opt.Mode, opt.TTFT, opt.ITL)
		rep, err := accuracyRun(ctx, gt, n, opt.Tokens)
		if err != nil {
			return nil, fmt.Errorf("calibrate at %d streams: %w", n, err)
		}
		acc, err := gt.compare(rep)
		if err != nil {
			return nil, fmt.Errorf("calibrate at %d streams: %w", n, err)
		}
		acc.Streams = n
		cal.Accuracy = append(cal.Accuracy, acc)
	}
	if opt.Rate > 0 {
		gt.reset(PerStream, 0, 0)
		res, err := perftest.Execute(ctx, perftest.Case{Target: gt, Model: "truth", Workload: indexed{n: opt.PacingRequests, osl: 2},
			Load: perftest.Rate(opt.Rate), Count: 1, Warmup: -1, Timeout: time.Minute}, perftest.ExecOptions{})
		if err != nil {
			return nil, fmt.Errorf("calibrate pacing: %w", err)
		}
		d := res.Reps[0].Diag
		cal.RequestedRate, cal.AchievedRate, cal.LagP50, cal.LagP99 = d.RequestedRate, d.AchievedRate, d.LagP50, d.LagP99
	}
	if opt.MemoryStreams > 0 {
		gt.reset(PerStream, 0, 0)
		client, server, err := memoryPerStream(ctx, gt, opt.MemoryStreams)
		if err != nil {
			return nil, err
		}
		cal.MemoryPerStream, cal.ServerMemoryPerStream, cal.MemoryStreams = client, server, opt.MemoryStreams
	}
	return cal, nil
}

// accuracyRun sends 4n requests at n streams, after n that warm the server up and are
// left out, with the drain times.
func accuracyRun(ctx context.Context, gt *truthServer, n, tokens int) (perftest.Repetition, error) {
	s, err := perftest.NewSession(ctx, perftest.Case{Target: gt, Model: "truth", Workload: indexed{n: 4 * n, osl: tokens},
		Load: perftest.Concurrency(n), Count: 1, Warmup: n, Timeout: 2 * time.Minute}, perftest.ExecOptions{})
	if err != nil {
		return perftest.Repetition{}, err
	}
	defer s.Close()
	if err := s.Warmup(ctx); err != nil {
		return perftest.Repetition{}, err
	}
	gt.clearDrains()
	if err := s.Repeat(ctx); err != nil {
		return perftest.Repetition{}, err
	}
	return s.Result().Reps[0], nil
}

// WriteText prints the calibration as tables.
func (c *Calibration) WriteText(w io.Writer) error {
	switch c.Mode {
	case PerStream:
		fmt.Fprintf(w, "server: per-stream timers, each chunk stamped before its write\n\n")
	default:
		fmt.Fprintf(w, "server: burst, one step writes a token to every stream, each chunk stamped after its write returned\n\n")
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "streams\ttoken events\tTTFT bias\tTTFT p99 error\tITL bias\tITL p99 error\tdrain p50\tdrain p99\tITL p99 error / drain p50\t\n")
	for _, a := range c.Accuracy {
		drain50, drain99, ratio := "-", "-", "-"
		if c.Mode == Burst {
			drain50, drain99 = short(a.DrainP50), short(a.DrainP99)
			if a.DrainP50 > 0 {
				ratio = fmt.Sprintf("%.1fx", float64(a.ITLP99Err)/float64(a.DrainP50))
			}
		}
		fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", a.Streams, a.Tokens, short(a.TTFTBias), short(a.TTFTP99Err),
			short(a.ITLBias), short(a.ITLP99Err), drain50, drain99, ratio)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if c.Mode == Burst && len(c.Accuracy) > 0 {
		fmt.Fprintf(w, "\ndrain: the time a step takes from its first write to the return of its last: the server cannot hand a step's\nlast chunk to the kernel sooner, the floor of what any client on this machine can resolve\n")
	}
	if c.RequestedRate > 0 {
		fmt.Fprintf(w, "\npacing: %.1f of %.1f req/s requested (%.2f%%), schedule lag p50 %s p99 %s\n",
			c.AchievedRate, c.RequestedRate, 100*c.AchievedRate/c.RequestedRate, short(c.LagP50), short(c.LagP99))
	}
	if c.MemoryStreams > 0 {
		fmt.Fprintf(w, "memory: %.1f KiB of client heap per in-flight stream (%d streams held open; the in-process server's %.1f KiB taken out)\n",
			c.MemoryPerStream/1024, c.MemoryStreams, c.ServerMemoryPerStream/1024)
	}
	return nil
}

// short prints a duration to three significant digits at most.
func short(d time.Duration) string {
	a := max(d, -d)
	switch {
	case a >= time.Second:
		return d.Round(10 * time.Millisecond).String()
	case a >= 100*time.Millisecond:
		return d.Round(time.Millisecond).String()
	case a >= 10*time.Millisecond:
		return d.Round(100 * time.Microsecond).String()
	case a >= time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	case a >= 100*time.Microsecond:
		return d.Round(time.Microsecond).String()
	case a >= 10*time.Microsecond:
		return d.Round(100 * time.Nanosecond).String()
	}
	return d.Round(10 * time.Nanosecond).String()
}

// indexed is a workload whose prompt's single token is the request's index, so the
// ground-truth server knows which request it is serving.
type indexed struct{ n, osl int }

func (w indexed) Name() string                 { return "calibration" }
func (w indexed) Fingerprint() (string, error) { return fixtures.Fingerprint("calibration", w) }
func (w indexed) Requests() iter.Seq2[fixtures.Request, error] {
	return func(yield func(fixtures.Request, error) bool) {
		for i := range w.n {
			if !yield(fixtures.Request{Index: i, Tokens: []int{i}, InputTokens: 1, OutputTokens: w.osl}, nil) {
				return
			}
		}
	}
}

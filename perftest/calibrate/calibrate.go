// Package calibrate measures how far perfgate's client can be trusted on a machine: it runs
// perf cases through the public runner (perftest.Execute) against an in-process streaming
// server that records when it sent every chunk, and reports the client's timing bias and
// error, its pacing at a high open-loop rate, and its memory per in-flight stream.
package calibrate

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/perfgate/perfgate/fixtures"
	"github.com/perfgate/perfgate/perftest"
)

// Options configures Run. The zero value measures 1, 64 and 512 streams and
// open-loop pacing at 2,000 requests/s.
type Options struct {
	// Streams lists the concurrent stream counts to measure accuracy at (default 1, 64, 512).
	Streams []int
	// Tokens per request (default 64), TTFT and ITL of the ground-truth server (default 20 ms
	// and 10 ms).
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

// Calibration says how far the client's numbers can be trusted on this machine.
type Calibration struct {
	Accuracy []Accuracy
	// Pacing at the requested open-loop rate.
	RequestedRate, AchievedRate float64
	LagP50, LagP99              time.Duration
	// MemoryPerStream is the client's heap growth per held-open stream, in bytes.
	MemoryPerStream float64
	MemoryStreams   int
}

// Accuracy compares the client's stamps with the server's flush times at one concurrency.
type Accuracy struct {
	Streams int
	Tokens  int // token events compared
	// Bias is the median of (client stamp - server flush); P99Err the 99th percentile of its
	// distance from the bias (the jitter a measurement can carry).
	TTFTBias, TTFTP99Err time.Duration
	ITLBias, ITLP99Err   time.Duration
}

// Run runs the client against an in-process streaming server that records when it flushed
// every chunk, and reports the client's timing bias and error, its pacing at a high
// open-loop rate, and its memory per in-flight stream. Both sides share the process's clock,
// so the comparison is exact up to the HTTP stack and the client itself.
func Run(ctx context.Context, opt Options) (*Calibration, error) {
	if len(opt.Streams) == 0 {
		opt.Streams = []int{1, 64, 512}
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
	cal := &Calibration{}
	for _, n := range opt.Streams {
		gt.reset(opt.TTFT, opt.ITL)
		res, err := perftest.Execute(ctx, perftest.Case{Target: gt, Model: "truth", Workload: indexed{n: 4 * n, osl: opt.Tokens},
			Load: perftest.Concurrency(n), Count: 1, Warmup: n, Timeout: time.Minute}, perftest.ExecOptions{})
		if err != nil {
			return nil, fmt.Errorf("calibrate at %d streams: %w", n, err)
		}
		acc, err := gt.compare(res.Reps[0])
		if err != nil {
			return nil, fmt.Errorf("calibrate at %d streams: %w", n, err)
		}
		acc.Streams = n
		cal.Accuracy = append(cal.Accuracy, acc)
	}
	if opt.Rate > 0 {
		gt.reset(0, 0)
		res, err := perftest.Execute(ctx, perftest.Case{Target: gt, Model: "truth", Workload: indexed{n: opt.PacingRequests, osl: 2},
			Load: perftest.Rate(opt.Rate), Count: 1, Warmup: -1, Timeout: time.Minute}, perftest.ExecOptions{})
		if err != nil {
			return nil, fmt.Errorf("calibrate pacing: %w", err)
		}
		d := res.Reps[0].Diag
		cal.RequestedRate, cal.AchievedRate, cal.LagP50, cal.LagP99 = d.RequestedRate, d.AchievedRate, d.LagP50, d.LagP99
	}
	if opt.MemoryStreams > 0 {
		per, err := memoryPerStream(ctx, gt, opt.MemoryStreams)
		if err != nil {
			return nil, err
		}
		cal.MemoryPerStream, cal.MemoryStreams = per, opt.MemoryStreams
	}
	return cal, nil
}

// WriteText prints the calibration as tables.
func (c *Calibration) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "streams\ttoken events\tTTFT bias\tTTFT p99 error\tITL bias\tITL p99 error\n")
	for _, a := range c.Accuracy {
		fmt.Fprintf(tw, "%d\t%d\t%v\t%v\t%v\t%v\n", a.Streams, a.Tokens, a.TTFTBias, a.TTFTP99Err, a.ITLBias, a.ITLP99Err)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if c.RequestedRate > 0 {
		fmt.Fprintf(w, "\npacing: %.1f of %.1f req/s requested (%.2f%%), schedule lag p50 %v p99 %v\n",
			c.AchievedRate, c.RequestedRate, 100*c.AchievedRate/c.RequestedRate, c.LagP50, c.LagP99)
	}
	if c.MemoryStreams > 0 {
		fmt.Fprintf(w, "memory: %.1f KiB of client heap per in-flight stream (%d streams held open)\n", c.MemoryPerStream/1024, c.MemoryStreams)
	}
	return nil
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

// truthServer streams tokens on a fixed schedule and records when it sent each chunk.
type truthServer struct {
	srv       *http.Server
	ln        net.Listener
	mu        sync.Mutex
	ttft, itl time.Duration
	flushed   map[int][]time.Time
	// In hold mode (release set) every stream sends one chunk, counts itself in held, and
	// waits for release to be closed.
	held    int
	release chan struct{}
}

func startTruthServer() (*truthServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("calibrate: %w", err)
	}
	gt := &truthServer{ln: ln, flushed: map[int][]time.Time{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/completions", gt.complete)
	gt.srv = &http.Server{Handler: mux}
	go gt.srv.Serve(ln)
	return gt, nil
}

func (gt *truthServer) BaseURL() string { return "http://" + gt.ln.Addr().String() }

func (gt *truthServer) close() { gt.srv.Close() }

func (gt *truthServer) reset(ttft, itl time.Duration) {
	gt.mu.Lock()
	defer gt.mu.Unlock()
	gt.ttft, gt.itl = ttft, itl
	gt.flushed = map[int][]time.Time{}
}

func (gt *truthServer) complete(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Prompt    []int `json:"prompt"`
		MaxTokens int   `json:"max_tokens"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Prompt) != 1 || req.MaxTokens <= 0 {
		http.Error(w, `{"error":{"message":"calibration server wants one prompt token and max_tokens"}}`, http.StatusBadRequest)
		return
	}
	gt.mu.Lock()
	ttft, itl := gt.ttft, gt.itl
	release := gt.release
	gt.mu.Unlock()
	times := make([]time.Time, 0, req.MaxTokens)
	w.Header().Set("Content-Type", "text/event-stream")
	fl := w.(http.Flusher)
	t := time.NewTimer(ttft)
	defer t.Stop()
	chunk := []byte(`data: {"id":"c","object":"text_completion","model":"truth","choices":[{"index":0,"text":" x","finish_reason":null}]}` + "\n\n")
	for k := range req.MaxTokens {
		wait := itl
		if k == 0 {
			wait = ttft
		}
		if wait > 0 {
			t.Reset(wait)
			select {
			case <-t.C:
			case <-r.Context().Done():
				return
			}
		}
		// Ground truth is the moment the chunk is handed to the connection: the client can
		// read it before this goroutine returns from Flush.
		times = append(times, time.Now())
		if _, err := w.Write(chunk); err != nil {
			return
		}
		fl.Flush()
		if release != nil && k == 0 {
			gt.mu.Lock()
			gt.held++ // in flight: its first chunk is out
			gt.mu.Unlock()
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
		}
	}
	// Record before [DONE]: the client compares as soon as it has read it.
	gt.mu.Lock()
	gt.flushed[req.Prompt[0]] = times
	gt.mu.Unlock()
	fmt.Fprintf(w, "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":%d}}\n\ndata: [DONE]\n\n", req.MaxTokens)
	fl.Flush()
}

// compare matches the client's records of a repetition with the server's flush times.
func (gt *truthServer) compare(rep perftest.Repetition) (Accuracy, error) {
	gt.mu.Lock()
	defer gt.mu.Unlock()
	var ttftErr, itlErr []time.Duration
	for i := range rep.Records {
		r := &rep.Records[i]
		if r.Outcome != perftest.OK {
			return Accuracy{}, fmt.Errorf("request %d: %s: %s", r.Index, r.Outcome, r.Error)
		}
		truth := gt.flushed[r.Index]
		if len(truth) != len(r.Tokens) {
			return Accuracy{}, fmt.Errorf("request %d: client saw %d chunks, server flushed %d", r.Index, len(r.Tokens), len(truth))
		}
		due := rep.Start.Add(r.Scheduled)
		for k, got := range r.Tokens {
			want := truth[k].Sub(due)
			if k == 0 {
				ttftErr = append(ttftErr, got-want)
				continue
			}
			wantGap := truth[k].Sub(truth[k-1])
			itlErr = append(itlErr, (got-r.Tokens[k-1])-wantGap)
		}
	}
	if len(ttftErr) == 0 {
		return Accuracy{}, errors.New("no requests to compare")
	}
	a := Accuracy{Tokens: len(ttftErr) + len(itlErr)}
	a.TTFTBias, a.TTFTP99Err = biasAndP99(ttftErr)
	a.ITLBias, a.ITLP99Err = biasAndP99(itlErr)
	return a, nil
}

func biasAndP99(errs []time.Duration) (bias, p99 time.Duration) {
	if len(errs) == 0 {
		return 0, 0
	}
	s := slices.Clone(errs)
	slices.Sort(s)
	bias = s[len(s)/2]
	dev := make([]time.Duration, len(s))
	for i, e := range s {
		dev[i] = max(e-bias, bias-e)
	}
	slices.Sort(dev)
	return bias, dev[min(len(dev)-1, int(float64(len(dev))*0.99))]
}

// memoryPerStream holds n streams open through the runner and measures the heap growth
// while they are in flight.
func memoryPerStream(ctx context.Context, gt *truthServer, n int) (float64, error) {
	gt.mu.Lock()
	gt.held, gt.release = 0, make(chan struct{})
	release := gt.release
	gt.mu.Unlock()
	defer func() {
		gt.mu.Lock()
		gt.release = nil
		gt.mu.Unlock()
	}()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	type outcome struct {
		res *perftest.Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := perftest.Execute(ctx, perftest.Case{Target: gt, Model: "truth", Workload: indexed{n: n, osl: 2},
			Load: perftest.Concurrency(n), Count: 1, Warmup: -1, Timeout: 2 * time.Minute}, perftest.ExecOptions{})
		done <- outcome{res, err}
	}()
	// Wait until every stream holds its first chunk (or the run ended without them).
	deadline := time.Now().Add(time.Minute)
	var started bool
	for !started && time.Now().Before(deadline) {
		gt.mu.Lock()
		started = gt.held >= n
		gt.mu.Unlock()
		select {
		case o := <-done:
			close(release)
			return 0, fmt.Errorf("memory probe: the run ended before its %d streams were open: %v", n, o.err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	// Give the client a moment to read the last streams' first chunks.
	time.Sleep(100 * time.Millisecond)
	runtime.GC()
	runtime.ReadMemStats(&after)
	close(release)
	o := <-done
	if !started {
		return 0, errors.New("memory probe: streams did not start within a minute")
	}
	if o.err != nil {
		return 0, fmt.Errorf("memory probe: %w", o.err)
	}
	if failed := o.res.Reps[0].Requests - o.res.Reps[0].Outcomes[perftest.OK]; failed > 0 {
		return 0, fmt.Errorf("memory probe: %d of %d streams failed", failed, n)
	}
	return float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(n), nil
}

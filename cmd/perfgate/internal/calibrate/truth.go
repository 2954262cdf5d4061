package calibrate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/perfgate/perfgate/perftest"
)

// truthServer streams tokens on a known schedule and records when it sent each chunk.
type truthServer struct {
	srv *http.Server
	ln  net.Listener

	mu        sync.Mutex
	mode      Mode
	ttft, itl time.Duration
	flushed   map[int][]time.Time
	// In hold mode (release set) every stream sends one chunk, counts itself in held, and
	// waits for release to be closed.
	held    int
	release chan struct{}

	steps *stepLoop // burst mode's engine
}

// chunk is every token the server sends.
var chunk = []byte(`data: {"id":"c","object":"text_completion","model":"truth","choices":[{"index":0,"text":" x","finish_reason":null}]}` + "\n\n")

func startTruthServer() (*truthServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("calibrate: %w", err)
	}
	gt := &truthServer{ln: ln, flushed: map[int][]time.Time{}}
	gt.steps = newStepLoop(gt)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/models", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"object":"list","data":[{"id":"truth","object":"model"}]}`))
	})
	mux.HandleFunc("POST /v1/completions", gt.complete)
	gt.srv = &http.Server{Handler: mux}
	go gt.srv.Serve(ln)
	return gt, nil
}

func (gt *truthServer) BaseURL() string { return "http://" + gt.ln.Addr().String() }

func (gt *truthServer) close() {
	gt.srv.Close()
	gt.steps.stop()
}

func (gt *truthServer) reset(mode Mode, ttft, itl time.Duration) {
	gt.mu.Lock()
	defer gt.mu.Unlock()
	gt.mode, gt.ttft, gt.itl = mode, ttft, itl
	gt.flushed = map[int][]time.Time{}
	gt.steps.clearDrains()
}

func (gt *truthServer) clearDrains() { gt.steps.clearDrains() }

// record keeps a stream's chunk times, before its [DONE] is sent: the client compares as
// soon as it has read it.
func (gt *truthServer) record(index int, times []time.Time) {
	gt.mu.Lock()
	gt.flushed[index] = times
	gt.mu.Unlock()
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
	mode, ttft, itl := gt.mode, gt.ttft, gt.itl
	release := gt.release
	gt.mu.Unlock()
	w.Header().Set("Content-Type", "text/event-stream")
	if mode == Burst && release == nil {
		// An engine's HTTP server answers with its headers at once and streams the tokens
		// as the steps make them: the client has the response before the first token.
		w.(http.Flusher).Flush()
		gt.steps.serve(w, req.Prompt[0], req.MaxTokens, time.Now().Add(ttft))
		return
	}
	times := make([]time.Time, 0, req.MaxTokens)
	fl := w.(http.Flusher)
	t := time.NewTimer(ttft)
	defer t.Stop()
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
	gt.record(req.Prompt[0], times)
	writeEnd(w, req.MaxTokens)
	fl.Flush()
}

// writeEnd writes the usage chunk and [DONE] of a stream of n tokens.
func writeEnd(w http.ResponseWriter, n int) {
	fmt.Fprintf(w, "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":%d}}\n\ndata: [DONE]\n\n", n)
}

// compare matches the client's records of a repetition with the server's chunk times.
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
			return Accuracy{}, fmt.Errorf("request %d: client saw %d chunks, server sent %d", r.Index, len(r.Tokens), len(truth))
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
	a.DrainP50, a.DrainP99 = gt.steps.drainPercentiles()
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
// while they are in flight, less the in-process server's share: the growth with a bare
// client (a connection and a request each, nothing read) holding as many streams.
func memoryPerStream(ctx context.Context, gt *truthServer, n int) (client, server float64, err error) {
	server, err = heldHeap(gt, n, func() (wait func() error, err error) { return bareStreams(ctx, gt, n) })
	if err != nil {
		return 0, 0, fmt.Errorf("memory probe, bare client: %w", err)
	}
	total, err := heldHeap(gt, n, func() (func() error, error) {
		done := make(chan error, 1)
		go func() {
			res, err := perftest.Execute(ctx, perftest.Case{Target: gt, Model: "truth", Workload: indexed{n: n, osl: 2},
				Load: perftest.Concurrency(n), Count: 1, Warmup: -1, Timeout: 2 * time.Minute}, perftest.ExecOptions{})
			if err == nil {
				if failed := res.Reps[0].Requests - res.Reps[0].Outcomes[perftest.OK]; failed > 0 {
					err = fmt.Errorf("%d of %d streams failed", failed, n)
				}
			}
			done <- err
		}()
		return func() error { return <-done }, nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("memory probe: %w", err)
	}
	return total - server, server, nil
}

// heldHeap starts n streams that the server holds after their first chunk, and returns the
// heap growth per stream while they are all held. start opens the streams and returns the
// wait for their end after the release.
func heldHeap(gt *truthServer, n int, start func() (wait func() error, err error)) (float64, error) {
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
	liveHeap(&before)
	wait, err := start()
	if err != nil {
		close(release)
		return 0, err
	}
	ended := make(chan error, 1)
	go func() { ended <- wait() }()
	// Wait until every stream holds its first chunk (or the run ended without them).
	deadline := time.Now().Add(time.Minute)
	var started bool
	for !started && time.Now().Before(deadline) {
		gt.mu.Lock()
		started = gt.held >= n
		gt.mu.Unlock()
		select {
		case err := <-ended:
			close(release)
			return 0, fmt.Errorf("the run ended before its %d streams were open: %v", n, err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	// Give the client a moment to read the last streams' first chunks.
	time.Sleep(100 * time.Millisecond)
	liveHeap(&after)
	close(release)
	err = <-ended
	if !started {
		return 0, errors.New("streams did not start within a minute")
	}
	if err != nil {
		return 0, err
	}
	return float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(n), nil
}

// bareStreams opens n connections that each send one request and read nothing until the
// wait, which reads each answer to its end.
func bareStreams(ctx context.Context, gt *truthServer, n int) (wait func() error, err error) {
	addr := gt.ln.Addr().String()
	conns := make([]net.Conn, 0, n)
	closeAll := func() {
		for _, c := range conns {
			c.Close()
		}
	}
	for i := range n {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err != nil {
			closeAll()
			return nil, err
		}
		conns = append(conns, c)
		body := fmt.Sprintf(`{"prompt":[%d],"max_tokens":2}`, i)
		if _, err := fmt.Fprintf(c, "POST /v1/completions HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
			addr, len(body), body); err != nil {
			closeAll()
			return nil, err
		}
	}
	return func() error {
		defer closeAll()
		for _, c := range conns {
			if _, err := io.Copy(io.Discard, c); err != nil {
				return err
			}
		}
		return nil
	}, nil
}

// liveHeap reads the memory statistics after two collections: the first moves what
// sync.Pools hold (net/http's buffers among it) to their victim caches, the second frees it,
// so that a buffer a pool kept from an earlier run is counted neither before nor after.
func liveHeap(m *runtime.MemStats) {
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(m)
}

package perftest

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"maps"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/perfgate/perfgate/fixtures"
)

// Run runs a perf case: it replays the workload against the target Count times and returns
// the per-repetition metrics. A bad Case fails the test with a message saying what to set.
// Failed requests are counted, not fatal; after the run the case fails when a repetition's
// error rate exceeds Case.MaxErrorRate or the client could not deliver the load it was asked
// for. With -perf.out the result file and per-request records are written there, also when
// the run is cut short by the test's deadline or an interrupt.
func Run(tb testing.TB, c Case) *Result {
	tb.Helper()
	if err := c.Validate(); err != nil {
		tb.Fatalf("perftest: bad Case:\n%v", err)
	}
	ctx, stop := runContext(tb)
	res, runErr := Execute(ctx, c, ExecOptions{Name: tb.Name(), Logf: tb.Logf})
	interrupted := stop()
	if res == nil {
		tb.Fatalf("perftest: %v", runErr)
	}
	if *flagOut != "" {
		path, err := res.WriteFiles(*flagOut)
		if err != nil {
			tb.Errorf("perftest: %v", err)
		} else {
			tb.Logf("results: %s (records beside it)", path)
		}
	}
	if interrupted {
		// The results are written: now let the interrupt end the test binary as it would have.
		tb.Logf("perftest: %s: interrupted after %d of %d repetitions; results written", res.Name, len(res.Reps), res.count)
		_ = syscall.Kill(os.Getpid(), syscall.SIGINT)
	}
	if runErr != nil {
		tb.Fatalf("perftest: %s: %v (%d of %d repetitions finished)", res.Name, runErr, len(res.Reps), res.count)
	}
	tb.Logf("%s", res.describeOutcomes())
	for _, problem := range res.Problems(c) {
		tb.Errorf("perftest: %s: %s", res.Name, problem)
	}
	return res
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

// ExecOptions configures Execute.
type ExecOptions struct {
	// Name names the case when Case.Name is empty (Run passes the test's name).
	Name string
	// Logf receives progress lines every few seconds (nil: none).
	Logf func(format string, args ...any)
	// ProgressEvery is the interval of progress lines (0: 5 seconds).
	ProgressEvery time.Duration
}

// Execute runs a case outside `go test` (perfgate run uses it). It returns the result and,
// when the run could not finish, an error; a partial result is returned with the error so
// that what was measured can still be written.
func Execute(ctx context.Context, c Case, opt ExecOptions) (*Result, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("bad Case:\n%w", err)
	}
	r, err := newRunner(ctx, opt.Name, c)
	if err != nil {
		return nil, err
	}
	defer r.client.close()
	if opt.Logf != nil {
		stop := r.progress(opt.Logf, cmp.Or(opt.ProgressEvery, 5*time.Second))
		defer stop()
	}
	err = r.run(ctx)
	return r.result, err
}

// Problems lists what makes a finished run untrustworthy or failed, each as a sentence:
// error rates over Case.MaxErrorRate, an open-loop rate the client did not deliver, a
// schedule lag over Case.MaxScheduleLag.
func (res *Result) Problems(c Case) []string {
	var out []string
	limit := cmp.Or(c.MaxErrorRate, 0.01)
	for i, rep := range res.Reps {
		failed := rep.Requests - rep.Outcomes[OK]
		if limit >= 0 && rep.Requests > 0 && float64(failed)/float64(rep.Requests) > limit {
			out = append(out, fmt.Sprintf("repetition %d: %d of %d requests failed (over MaxErrorRate %.3g); first error: %s",
				i+1, failed, rep.Requests, limit, firstError(rep.Records)))
			break
		}
	}
	maxLag := cmp.Or(c.MaxScheduleLag, 10*time.Millisecond)
	for i, rep := range res.Reps {
		d := rep.Diag
		if d.RequestedRate > 0 && d.Sent > 10 && d.AchievedRate < 0.95*d.RequestedRate {
			out = append(out, fmt.Sprintf("repetition %d: the client sent %.1f req/s of the %.1f requested: the numbers do not describe the requested load (see perfgate calibrate)",
				i+1, d.AchievedRate, d.RequestedRate))
			break
		}
		if !c.Load.closed() && d.LagP99 > maxLag {
			out = append(out, fmt.Sprintf("repetition %d: schedule lag p99 %v is over MaxScheduleLag %v: requests went out late (client overloaded?)", i+1, d.LagP99, maxLag))
			break
		}
	}
	return out
}

func firstError(recs []Record) string {
	for _, r := range recs {
		if r.Outcome != OK {
			return string(r.Outcome) + ": " + r.Error
		}
	}
	return "none"
}

type runner struct {
	c       Case
	client  *client
	base    string
	scraper *scraper
	result  *Result
	// Progress counters over the whole run, and the repetition in flight.
	done, failed atomic.Int64
	rep          atomic.Int64
}

func newRunner(ctx context.Context, testName string, c Case) (*runner, error) {
	target := c.Target
	if *flagEndpoint != "" {
		target = Endpoint(*flagEndpoint)
	}
	base := strings.TrimSuffix(target.BaseURL(), "/")
	desc := map[string]string{"backend": "unknown"}
	if d, ok := target.(Describer); ok {
		maps.Copy(desc, d.Describe())
	}
	metricsURL := base + "/metrics"
	if m, ok := target.(MetricsTarget); ok && m.MetricsURL() != "" {
		metricsURL = m.MetricsURL()
	}
	model := c.Model
	if model == "" {
		model = desc["model"]
	}
	if model == "" {
		m, err := listModel(ctx, base)
		if err != nil {
			return nil, err
		}
		model = m
	}
	desc["model"] = model
	fp, err := c.Workload.Fingerprint()
	if err != nil {
		return nil, fmt.Errorf("workload fingerprint: %w", err)
	}
	name := c.Name
	if name == "" {
		name = strings.TrimPrefix(testName, "Test")
	}
	name = configValue(name)
	if name == "" {
		name = "Perf"
	}
	api := "completions"
	if c.API == Chat {
		api = "chat"
	}
	cfg := withHardware([]KV{{"goos", runtime.GOOS}, {"goarch", runtime.GOARCH}})
	if RaceEnabled {
		cfg = append(cfg, KV{"race", "on"})
	}
	for _, k := range slices.Sorted(maps.Keys(desc)) {
		cfg = append(cfg, KV{k, configValue(desc[k])})
	}
	cfg = append(cfg,
		KV{"api", api},
		KV{"workload", configValue(c.Workload.Name())},
		KV{"fingerprint", fp},
		KV{"load", configValue(c.Load.String())},
	)
	count := c.Count
	if count == 0 {
		count = *flagCount
	}
	conns := c.Load.Concurrency
	if !c.Load.closed() {
		conns = cmp.Or(c.Load.MaxInFlight, 256)
	}
	cl := newClient(base, model, c, conns)
	return &runner{
		c:       c,
		client:  cl,
		base:    base,
		scraper: newScraper(metricsURL, cl.http),
		result:  &Result{Name: name, Config: cfg, count: max(count, 1)},
	}, nil
}

// configValue makes a value safe for a benchmark config line or name (no spaces).
func configValue(v string) string {
	return strings.Join(strings.Fields(v), "_")
}

// listModel asks the server for its first model.
func listModel(ctx context.Context, base string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/models", nil)
	if err != nil {
		return "", fmt.Errorf("list models: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("list models at %s: %w (is the server up? set Case.Model to skip this)", base, err)
	}
	defer resp.Body.Close()
	var body struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("list models at %s: HTTP %d (set Case.Model)", base, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || len(body.Data) == 0 {
		return "", fmt.Errorf("list models at %s: no model in the answer (set Case.Model)", base)
	}
	return body.Data[0].ID, nil
}

// run performs the warm-up and the repetitions. It stops early, keeping what it measured,
// when ctx is cancelled.
func (r *runner) run(ctx context.Context) error {
	warm := r.c.Warmup
	if warm == 0 {
		warm = cmp.Or(r.c.Load.Concurrency, 1)
	}
	if warm > 0 {
		if _, err := r.closedLoop(ctx, cmp.Or(r.c.Load.Concurrency, min(warm, 64)), warm, nil); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
	}
	reset := "yes"
	for i := range r.result.count {
		if ctx.Err() != nil {
			r.result.Partial = true
			return fmt.Errorf("stopped: %w", context.Cause(ctx))
		}
		if !r.resetCache(ctx) {
			reset = "no"
		}
		r.rep.Store(int64(i + 1))
		rep, err := r.repetition(ctx, 0)
		if ctx.Err() != nil {
			r.result.Partial = true
			return fmt.Errorf("stopped during repetition %d: %w", i+1, context.Cause(ctx))
		}
		if err != nil {
			r.result.Partial = true
			return err
		}
		r.result.Reps = append(r.result.Reps, rep)
	}
	r.result.Config = append(r.result.Config, KV{"cache-reset", reset})
	return nil
}

// resetCache asks the server to drop its prefix cache so that every repetition starts cold:
// vLLM's POST /reset_prefix_cache (dev mode), else SGLang's POST /flush_cache.
func (r *runner) resetCache(ctx context.Context) bool {
	for _, p := range []string{"/reset_prefix_cache", "/flush_cache"} {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.base+p, nil)
		if err != nil {
			return false
		}
		resp, err := r.client.http.Do(req)
		if err != nil {
			return false
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		resp.Body.Close()
		if resp.StatusCode/100 == 2 {
			return true
		}
	}
	return false
}

// repetition replays the workload once under the case's load (limit > 0: only its first
// limit requests), with the server's metrics scraped around it.
func (r *runner) repetition(ctx context.Context, limit int) (Repetition, error) {
	l := r.c.Load
	if l.Requests > 0 && (limit == 0 || l.Requests < limit) {
		limit = l.Requests
	}
	stopScrape := r.scraper.watch(ctx, 250*time.Millisecond)
	var (
		recs []Record
		err  error
	)
	pac := &pacing{}
	if l.closed() {
		recs, err = r.closedLoop(ctx, l.Concurrency, limit, pac)
	} else {
		recs, err = r.openLoop(ctx, limit, pac)
	}
	window := stopScrape()
	if err != nil {
		return Repetition{}, err
	}
	slices.SortFunc(recs, func(a, b Record) int { return a.Index - b.Index })
	s := summarize(recs, r.c.SLO)
	return Repetition{
		Metrics:       append(s.metrics(r.c.SLO), window.metrics()...),
		Records:       recs,
		Requests:      s.requests,
		Outcomes:      s.outcomes,
		Wall:          s.wall,
		TokenMismatch: s.tokenMismatch,
		Diag:          diagnose(recs, l, pac),
	}, nil
}

// pacing carries what the schedulers know about the load they delivered.
type pacing struct {
	requested float64 // open loop: requested mean rate over the schedule
	inFlight  atomic.Int64
	peak      atomic.Int64
}

func (p *pacing) enter() {
	n := p.inFlight.Add(1)
	for {
		old := p.peak.Load()
		if n <= old || p.peak.CompareAndSwap(old, n) {
			return
		}
	}
}

func (p *pacing) leave() { p.inFlight.Add(-1) }

// source serialises access to a workload's iterator and keeps session order: a turn waits
// for the previous turn of its session.
type source struct {
	mu       sync.Mutex
	next     func() (fixtures.Request, error, bool)
	stop     func()
	limit    int
	deadline time.Time // zero: none
	taken    int
	err      error
	sessions map[string]chan struct{}
}

func newSource(w fixtures.Workload, limit int, deadline time.Time) *source {
	next, stop := iter.Pull2(w.Requests())
	return &source{next: next, stop: stop, limit: limit, deadline: deadline, sessions: map[string]chan struct{}{}}
}

// pull returns the next request, the channel closed when the previous turn of its session
// is done (nil for none), and the channel to close when this one is done (nil for none).
func (s *source) pull(ctx context.Context, name string) (req fixtures.Request, prev, done chan struct{}, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil || (s.limit > 0 && s.taken >= s.limit) || ctx.Err() != nil ||
		(!s.deadline.IsZero() && !time.Now().Before(s.deadline)) {
		return req, nil, nil, false
	}
	req, err, ok := s.next()
	if !ok {
		return req, nil, nil, false
	}
	if err != nil {
		s.err = fmt.Errorf("workload %s: %w", name, err)
		return req, nil, nil, false
	}
	s.taken++
	if req.Session != "" {
		prev = s.sessions[req.Session]
		done = make(chan struct{})
		s.sessions[req.Session] = done
	}
	return req, prev, done, true
}

// waitTurn blocks until the previous turn is done and the think time has passed. It returns
// false when ctx ends first.
func waitTurn(ctx context.Context, prev chan struct{}, think time.Duration) bool {
	if prev != nil {
		select {
		case <-prev:
		case <-ctx.Done():
			return false
		}
	}
	if think > 0 {
		t := time.NewTimer(think)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// collector gathers records from concurrent requests.
type collector struct {
	mu   sync.Mutex
	recs []Record
	r    *runner
}

func (c *collector) add(rec Record) {
	c.r.done.Add(1)
	if rec.Outcome != OK {
		c.r.failed.Add(1)
	}
	c.mu.Lock()
	c.recs = append(c.recs, rec)
	c.mu.Unlock()
}

func (r *runner) deadline() time.Time {
	if r.c.Load.Duration > 0 {
		return time.Now().Add(r.c.Load.Duration)
	}
	return time.Time{}
}

// closedLoop keeps conc requests in flight; a request is due when its worker is free.
func (r *runner) closedLoop(ctx context.Context, conc, limit int, pac *pacing) ([]Record, error) {
	src := newSource(r.c.Workload, limit, r.deadline())
	defer src.stop()
	if pac == nil {
		pac = &pacing{}
	}
	col := &collector{r: r}
	t0 := time.Now()
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			for {
				req, prev, done, ok := src.pull(ctx, r.c.Workload.Name())
				if !ok {
					return
				}
				if !waitTurn(ctx, prev, req.Think) {
					close(done)
					return
				}
				start := time.Now()
				var rec Record
				pac.enter()
				r.client.do(ctx, &req, start, &rec)
				pac.leave()
				rec.Scheduled = start.Sub(t0)
				if done != nil {
					close(done)
				}
				col.add(rec)
			}
		})
	}
	wg.Wait()
	return col.recs, src.err
}

// openLoop sends each request at its scheduled time (Rate/Stages or trace time), whether or
// not earlier requests have finished. A later turn of a session is due when the previous
// turn finished plus its think time.
func (r *runner) openLoop(ctx context.Context, limit int, pac *pacing) ([]Record, error) {
	l := r.c.Load
	src := newSource(r.c.Workload, limit, r.deadline())
	defer src.stop()
	col := &collector{r: r}
	p := newPacer(l, int(r.rep.Load()))
	speedup := cmp.Or(l.Speedup, 1)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var wg sync.WaitGroup
	t0 := time.Now()
	var first time.Duration = -1
	var last time.Duration
	send := func(req fixtures.Request, body []byte, due time.Time, done chan struct{}) {
		defer func() {
			if done != nil {
				close(done)
			}
		}()
		var rec Record
		if l.MaxInFlight > 0 && pac.inFlight.Load() >= int64(l.MaxInFlight) {
			rec = Record{Index: req.Index, Session: req.Session, Turn: req.Turn, WantInput: req.InputTokens, WantOutput: req.OutputTokens,
				Outcome: Dropped, Error: fmt.Sprintf("request %d: %d requests in flight (Load.MaxInFlight)", req.Index, l.MaxInFlight)}
		} else {
			pac.enter()
			r.client.doWithFirst(ctx, &req, body, due, &rec, nil)
			pac.leave()
		}
		rec.Scheduled = due.Sub(t0)
		col.add(rec)
	}
	for {
		req, prev, done, ok := src.pull(ctx, r.c.Workload.Name())
		if !ok {
			break
		}
		if req.Turn > 0 && prev != nil {
			// A follow-up turn: due when the conversation lets it be.
			wg.Go(func() {
				if !waitTurn(ctx, prev, req.Think) {
					close(done)
					return
				}
				send(req, nil, time.Now(), done)
			})
			continue
		}
		var off time.Duration
		if l.TraceTime {
			if first < 0 {
				first = req.Arrival
			}
			off = time.Duration(float64(req.Arrival-first) / speedup)
		} else {
			off = p.next()
		}
		last = max(last, off)
		due := t0.Add(off)
		body, err := r.client.body(&req) // while waiting, not after the due time
		if err != nil {
			body = nil // do reports it as the request's outcome
		}
		waitUntil(ctx, timer, due)
		if ctx.Err() != nil {
			if done != nil {
				close(done)
			}
			break
		}
		wg.Go(func() { send(req, body, due, done) })
	}
	wg.Wait()
	if n := src.taken; n > 1 && last > 0 {
		pac.requested = float64(n-1) / last.Seconds()
	}
	return col.recs, src.err
}

// spinWindow is how long before a send time the open-loop dispatcher stops sleeping and
// yields in a loop instead: the runtime parks in epoll_wait with millisecond resolution, so a
// sub-millisecond sleep can overshoot by up to a millisecond.
const spinWindow = 1500 * time.Microsecond

// waitUntil returns at due, or when ctx ends: a timer for the bulk of the wait, then
// runtime.Gosched until due, which uses only CPU no other goroutine wants.
func waitUntil(ctx context.Context, timer *time.Timer, due time.Time) {
	if d := time.Until(due) - spinWindow; d > 0 {
		timer.Reset(d)
		select {
		case <-timer.C:
		case <-ctx.Done():
			return
		}
	}
	for time.Now().Before(due) && ctx.Err() == nil {
		runtime.Gosched()
	}
}

// progress logs the run's progress every interval until the returned stop is called.
func (r *runner) progress(logf func(string, ...any), every time.Duration) (stop func()) {
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		last, lastAt := int64(0), time.Now()
		for {
			select {
			case <-quit:
				return
			case now := <-t.C:
				d := r.done.Load()
				rate := float64(d-last) / now.Sub(lastAt).Seconds()
				last, lastAt = d, now
				logf("perftest: repetition %d/%d: %d requests done (%d failed), %.1f req/s", r.rep.Load(), r.result.count, d, r.failed.Load(), rate)
			}
		}
	})
	return func() { close(quit); wg.Wait() }
}

// describeOutcomes is one log line counting outcomes and summing up pacing over all
// repetitions.
func (res *Result) describeOutcomes() string {
	total := map[Outcome]int{}
	n, mismatch := 0, 0
	var lag time.Duration
	var conc float64
	for _, rep := range res.Reps {
		n += rep.Requests
		mismatch += rep.TokenMismatch
		lag = max(lag, rep.Diag.LagP99)
		conc += rep.Diag.MeanConcurrency / float64(len(res.Reps))
		for o, c := range rep.Outcomes {
			total[o] += c
		}
	}
	var parts []string
	for _, o := range slices.Sorted(maps.Keys(total)) {
		parts = append(parts, string(o)+"="+strconv.Itoa(total[o]))
	}
	s := fmt.Sprintf("%s: %d repetitions, %d requests: %s; schedule lag p99 (worst repetition) %v, mean concurrency %.1f",
		res.Name, len(res.Reps), n, strings.Join(parts, " "), lag.Round(time.Microsecond), conc)
	if len(res.Reps) > 0 && res.Reps[0].Diag.RequestedRate > 0 {
		s += fmt.Sprintf(", rate %.2f of %.2f req/s requested (first repetition)", res.Reps[0].Diag.AchievedRate, res.Reps[0].Diag.RequestedRate)
	}
	if mismatch > 0 {
		s += fmt.Sprintf("; WARNING: %d requests streamed a different number of text chunks than the server's usage reports", mismatch)
	}
	return s
}

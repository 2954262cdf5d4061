package perftest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"maps"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/perfgate/perfgate/fixtures"
)

// Run runs a perf case: it replays the workload against the target Count times and returns
// the per-repetition metrics. A bad Case fails the test with a message saying what to set.
// Failed requests are counted, not fatal; the case fails when a repetition's error rate
// exceeds Case.MaxErrorRate, after the results are written. With -perf.out the result file
// and per-request records are written there, also when the run is cut short.
func Run(tb testing.TB, c Case) *Result {
	tb.Helper()
	if err := c.Validate(); err != nil {
		tb.Fatalf("perftest: bad Case:\n%v", err)
	}
	r, err := newRunner(tb.Context(), tb.Name(), c)
	if err != nil {
		tb.Fatalf("perftest: %v", err)
	}
	defer r.client.close()
	stop := r.progress(tb.Logf)
	runErr := r.run(tb.Context())
	stop()

	res := r.result
	if *flagOut != "" {
		path, err := res.WriteFiles(*flagOut)
		if err != nil {
			tb.Errorf("perftest: %v", err)
		} else {
			tb.Logf("results: %s (records beside it)", path)
		}
	}
	if runErr != nil {
		tb.Fatalf("perftest: %s: %v (%d of %d repetitions finished)", res.Name, runErr, len(res.Reps), r.count)
	}
	tb.Logf("%s", res.describeOutcomes())
	limit := cmp0(c.MaxErrorRate, 0.01)
	for i, rep := range res.Reps {
		failed := rep.Requests - rep.Outcomes[OK]
		if limit >= 0 && rep.Requests > 0 && float64(failed)/float64(rep.Requests) > limit {
			tb.Errorf("perftest: %s: repetition %d: %d of %d requests failed (over MaxErrorRate %.3g); first error: %s",
				res.Name, i+1, failed, rep.Requests, limit, firstError(rep.Records))
			break
		}
	}
	return res
}

func cmp0(v, def float64) float64 {
	if v == 0 {
		return def
	}
	return v
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
	c      Case
	client *client
	base   string
	count  int
	result *Result
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
	name = strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' {
			return '_'
		}
		return r
	}, name)
	api := "completions"
	if c.API == Chat {
		api = "chat"
	}
	cfg := []KV{{"goos", runtime.GOOS}, {"goarch", runtime.GOARCH}}
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
	return &runner{
		c:      c,
		client: newClient(base, model, c, c.Load.Concurrency),
		base:   base,
		count:  max(count, 1),
		result: &Result{Name: name, Config: cfg},
	}, nil
}

// configValue makes a value safe for a benchmark config line (no spaces or newlines).
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
		warm = r.c.Load.Concurrency
	}
	if warm > 0 {
		if _, err := r.repetition(ctx, warm); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
	}
	resetNote := ""
	for i := range r.count {
		if ctx.Err() != nil {
			r.result.Partial = true
			return fmt.Errorf("stopped: %w", context.Cause(ctx))
		}
		if ok := r.resetCache(ctx); !ok && resetNote == "" {
			resetNote = "no"
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
	if resetNote == "" {
		resetNote = "yes"
	}
	r.result.Config = append(r.result.Config, KV{"cache-reset", resetNote})
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

// repetition replays the workload once in a closed loop (limit > 0: only its first limit
// requests). Turns of a session wait for the previous turn to finish plus its think time.
func (r *runner) repetition(ctx context.Context, limit int) (Repetition, error) {
	next, stopIter := iter.Pull2(r.c.Workload.Requests())
	defer stopIter()

	var (
		mu       sync.Mutex
		records  []Record
		werr     error
		taken    int
		sessions = map[string]chan struct{}{}
	)
	pull := func() (req fixtures.Request, prev, done chan struct{}, ok bool) {
		mu.Lock()
		defer mu.Unlock()
		if werr != nil || (limit > 0 && taken >= limit) || ctx.Err() != nil {
			return req, nil, nil, false
		}
		req, err, ok := next()
		if !ok {
			return req, nil, nil, false
		}
		if err != nil {
			werr = fmt.Errorf("workload %s: %w", r.c.Workload.Name(), err)
			return req, nil, nil, false
		}
		taken++
		if req.Session != "" {
			prev = sessions[req.Session]
			done = make(chan struct{})
			sessions[req.Session] = done
		}
		return req, prev, done, true
	}

	t0 := time.Now()
	var wg sync.WaitGroup
	for range r.c.Load.Concurrency {
		wg.Go(func() {
			for {
				req, prev, done, ok := pull()
				if !ok {
					return
				}
				if prev != nil {
					select {
					case <-prev:
					case <-ctx.Done():
						close(done)
						return
					}
				}
				if req.Think > 0 {
					t := time.NewTimer(req.Think)
					select {
					case <-t.C:
					case <-ctx.Done():
						t.Stop()
						close(done)
						return
					}
				}
				start := time.Now()
				var rec Record
				r.client.do(ctx, &req, start, &rec)
				rec.Scheduled = start.Sub(t0)
				if done != nil {
					close(done)
				}
				r.done.Add(1)
				if rec.Outcome != OK {
					r.failed.Add(1)
				}
				mu.Lock()
				records = append(records, rec)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if werr != nil {
		return Repetition{}, werr
	}
	slices.SortFunc(records, func(a, b Record) int { return a.Index - b.Index })
	s := summarize(records, r.c.SLO)
	return Repetition{
		Metrics:       s.metrics(r.c.SLO),
		Records:       records,
		Requests:      s.requests,
		Outcomes:      s.outcomes,
		Wall:          s.wall,
		TokenMismatch: s.tokenMismatch,
	}, nil
}

// progress logs the repetition in flight every few seconds until the returned stop is
// called.
func (r *runner) progress(logf func(string, ...any)) (stop func()) {
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(5 * time.Second)
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
				logf("perftest: repetition %d/%d: %d requests done (%d failed), %.1f req/s", r.rep.Load(), r.count, d, r.failed.Load(), rate)
			}
		}
	})
	return func() { close(quit); wg.Wait() }
}

// describeOutcomes is one log line counting outcomes over all repetitions.
func (res *Result) describeOutcomes() string {
	total := map[Outcome]int{}
	n, mismatch := 0, 0
	for _, rep := range res.Reps {
		n += rep.Requests
		mismatch += rep.TokenMismatch
		for o, c := range rep.Outcomes {
			total[o] += c
		}
	}
	var parts []string
	for _, o := range slices.Sorted(maps.Keys(total)) {
		parts = append(parts, string(o)+"="+strconv.Itoa(total[o]))
	}
	s := fmt.Sprintf("%s: %d repetitions, %d requests: %s", res.Name, len(res.Reps), n, strings.Join(parts, " "))
	if mismatch > 0 {
		s += fmt.Sprintf("; WARNING: %d requests streamed a different number of text chunks than the server's usage reports", mismatch)
	}
	return s
}

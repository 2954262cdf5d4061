package perftest

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/perfgate/perfgate/perftest/machine"
	"github.com/perfgate/perfgate/perftest/resultfile"
)

// ExecOptions configure a Session (and Execute, which drives one).
type ExecOptions struct {
	// Name names the case when Case.Name is empty (Run passes the test's name).
	Name string
	// Logf receives progress lines every ProgressEvery and notes about what the runner could
	// not do (reset a cache, read metrics), each said once (nil: none).
	Logf func(format string, args ...any)
	// ProgressEvery is the interval of progress lines (0: 5 seconds).
	ProgressEvery time.Duration
	// Hardware is the hardware class recorded with the results ("": the one
	// machine.HardwareClass detects).
	Hardware string
}

// A Session runs one case against one target: it resolves the model and the config lines
// once, then warms the server up and runs repetitions when asked, appending each to its
// Result. Execute, RunAB and Sweep drive sessions, and so can any tool that needs another
// order of repetitions.
type Session struct {
	c       Case
	client  *client
	scraper *scraper // nil: the target exports no metrics perfgate knows
	reset   CacheResetter
	result  *Result
	logf    func(string, ...any)
	every   time.Duration

	resetState string // "yes", "unavailable" or "failed"
	// Progress counters over the whole session, and the repetition in flight.
	done, failed atomic.Int64
	rep          atomic.Int64
}

// NewSession validates the case and prepares a session: the model comes from Case.Model,
// the target's Describe "model" key or its /v1/models, and the config lines from the
// target, the workload and the load. Close it when done.
func NewSession(ctx context.Context, c Case, opt ExecOptions) (*Session, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("bad Case:\n%w", err)
	}
	base := strings.TrimSuffix(c.Target.BaseURL(), "/")
	desc := map[string]string{"backend": "unknown"}
	if d, ok := c.Target.(Describer); ok {
		maps.Copy(desc, d.Describe())
	}
	model := cmp.Or(c.Model, desc["model"])
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
	s := &Session{c: c, logf: opt.Logf, every: cmp.Or(opt.ProgressEvery, 5*time.Second), resetState: "yes"}
	if s.logf == nil {
		s.logf = func(string, ...any) {}
	}
	s.client = newClient(base, model, c)
	if m, ok := c.Target.(MetricsSource); ok && m.MetricsURL() != "" && len(m.MetricNames()) > 0 {
		s.scraper = &scraper{url: m.MetricsURL(), names: m.MetricNames(), client: s.client.http}
	} else {
		s.logf("perftest: server metrics: the target exports none perfgate knows (it does not implement perftest.MetricsSource); results have no server-* metrics")
	}
	if r, ok := c.Target.(CacheResetter); ok {
		s.reset = r
	} else {
		s.resetState = "unavailable"
		s.logf("perftest: cache reset: the target cannot empty its prefix cache (it does not implement perftest.CacheResetter): every repetition after the first may replay a warm cache and look faster")
	}
	name := configValue(cmp.Or(c.Name, strings.TrimPrefix(opt.Name, "Test")))
	cfg := []resultfile.KV{{Key: "goos", Value: runtime.GOOS}, {Key: "goarch", Value: runtime.GOARCH},
		{Key: resultfile.HardwareKey, Value: cmp.Or(machine.NormalizeClass(opt.Hardware), machine.HardwareClass())}}
	if RaceEnabled {
		cfg = append(cfg, resultfile.KV{Key: "race", Value: "on"})
	}
	for _, k := range slices.Sorted(maps.Keys(desc)) {
		cfg = append(cfg, resultfile.KV{Key: k, Value: configValue(desc[k])})
	}
	api := "completions"
	if c.API == Chat {
		api = "chat"
	}
	cfg = append(cfg,
		resultfile.KV{Key: "api", Value: api},
		resultfile.KV{Key: "workload", Value: configValue(c.Workload.Name())},
		resultfile.KV{Key: "fingerprint", Value: fp},
		resultfile.KV{Key: "load", Value: configValue(c.Load.String())},
	)
	s.result = &Result{Name: cmp.Or(name, "Perf"), Config: cfg, count: c.count()}
	return s, nil
}

// configValue makes a value safe for a benchmark config line or name (no spaces).
func configValue(v string) string {
	return strings.Join(strings.Fields(v), "_")
}

// Result is what the session has measured so far. The "cache-reset" config line says
// whether every repetition started from an emptied prefix cache: "yes", "unavailable"
// (the target cannot) or "failed".
func (s *Session) Result() *Result {
	r := s.result
	cfg := slices.DeleteFunc(slices.Clone(r.Config), func(kv resultfile.KV) bool { return kv.Key == "cache-reset" })
	if len(r.Reps) > 0 {
		cfg = append(cfg, resultfile.KV{Key: "cache-reset", Value: s.resetState})
	}
	r.Config = cfg
	r.checkHealth(s.c)
	return r
}

// Close releases the session's connections.
func (s *Session) Close() { s.client.close() }

// Warmup sends the case's warm-up requests (Case.Warmup), which open connections and warm
// the server, and leaves them out of the results.
func (s *Session) Warmup(ctx context.Context) error {
	n := s.c.warmup()
	if n == 0 {
		return nil
	}
	if _, err := s.closedLoop(ctx, cmp.Or(s.c.Load.Concurrency, min(n, 64)), n, nil); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	return nil
}

// Repeat empties the server's prefix cache where the target can, replays the workload once
// under the case's load with the server's metrics scraped around it, and appends the
// repetition to the result. A cancelled ctx stops it early and discards the repetition.
func (s *Session) Repeat(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("stopped: %w", context.Cause(ctx))
	}
	s.resetCache(ctx)
	s.rep.Store(int64(len(s.result.Reps) + 1))
	rep, err := s.repetition(ctx)
	if ctx.Err() != nil {
		return fmt.Errorf("stopped during repetition %d: %w", len(s.result.Reps)+1, context.Cause(ctx))
	}
	if err != nil {
		return err
	}
	s.result.Reps = append(s.result.Reps, rep)
	return nil
}

// resetCache asks the target to drop its prefix cache, saying once when that failed.
func (s *Session) resetCache(parent context.Context) {
	if s.reset == nil {
		return
	}
	ctx, cancel := context.WithTimeout(parent, 30*time.Second)
	defer cancel()
	err := s.reset.ResetPrefixCache(ctx)
	if err == nil || parent.Err() != nil {
		return
	}
	if s.resetState != "failed" {
		s.logf("perftest: cache reset failed before repetition %d: %v: the repetitions may start with a warm prefix cache and look faster", len(s.result.Reps)+1, err)
	}
	s.resetState = "failed"
}

// Execute runs a case outside `go test` (perfgate run uses it): a Session's warm-up and
// Case.Count repetitions (10 when 0). It returns the result and, when the run could not
// finish, an error; a partial result is returned with the error so that what was measured
// can still be written.
func Execute(ctx context.Context, c Case, opt ExecOptions) (*Result, error) {
	s, err := NewSession(ctx, c, opt)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	if opt.Logf != nil {
		defer s.progress()()
	}
	err = s.Warmup(ctx)
	for i := 0; err == nil && i < s.result.count; i++ {
		err = s.Repeat(ctx)
	}
	res := s.Result()
	res.Partial = err != nil
	return res, err
}

// progress logs the session's progress every interval until the returned stop is called.
func (s *Session) progress() (stop func()) {
	quit := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(s.every)
		defer t.Stop()
		last, lastAt := int64(0), time.Now()
		for {
			select {
			case <-quit:
				return
			case now := <-t.C:
				d := s.done.Load()
				rate := float64(d-last) / now.Sub(lastAt).Seconds()
				last, lastAt = d, now
				s.logf("perftest: repetition %d/%d: %d requests done (%d failed), %.1f req/s", s.rep.Load(), s.result.count, d, s.failed.Load(), rate)
			}
		}
	}()
	return func() { close(quit); <-exited }
}

// listModel asks the server for its first model, within a timeout and a size limit.
func listModel(ctx context.Context, base string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
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
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body); err != nil || len(body.Data) == 0 {
		return "", fmt.Errorf("list models at %s: no model in the answer (set Case.Model)", base)
	}
	return body.Data[0].ID, nil
}

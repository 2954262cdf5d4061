package perftest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/perfgate/perfgate/perftest/gate"
	"github.com/perfgate/perfgate/perftest/machine"
	"github.com/perfgate/perfgate/perftest/metric"
	"github.com/perfgate/perfgate/perftest/progress"
	"github.com/perfgate/perfgate/perftest/resultfile"
)

// ExecOptions configure a Session (and Execute, which drives one).
type ExecOptions struct {
	// Name names the case when Case.Name is empty (Run passes the test's name).
	Name string
	// Logf receives notes about what the runner could not do (reset a cache, read metrics),
	// each said once, and, when Progress is nil, one progress line per finished repetition
	// (nil: none).
	Logf func(format string, args ...any)
	// Progress, when set, receives the run's progress (see package progress) every
	// ProgressEvery while a repetition runs and once when each repetition ends
	// (State.Finished), from one goroutine at a time.
	Progress func(progress.State)
	// ProgressEvery is the interval of progress updates (0: 5 seconds).
	ProgressEvery time.Duration
	// Hardware is the hardware class recorded with the results ("": the one
	// machine.HardwareClass detects).
	Hardware string
	// Settings name, in messages, where the user sets each Case field (nil: the fields
	// themselves; perfgate run names its flags, "--model").
	Settings Settings
	// Compare is how RunAB judges B against A at each look of a sequential run (nil:
	// GateOptions(0, 0)); RunAB makes it paired.
	Compare *gate.Options
	// OrderSeed chooses RunAB's block order, A B B A or B A A B (0: a random seed); the
	// results record the seed either way (metric.KeyABOrder).
	OrderSeed uint64
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

	timing     *serverTiming    // the server's per-request account (join.go)
	seq        *gate.Sequential // the design of the comparison running the session, if sequential
	decided    []resultfile.KV  // what the gate decided with (gate.DecisionConfig), once it has
	resetState string           // "yes", "unavailable", "failed" or "ineffective"
	settings   Settings         // where the user sets each Case field, for messages
	vocab      int              // the server's vocabulary size, 0 when unknown
	served     map[string]bool
	said       map[string]bool // notes already logged
	// Progress counters over the whole session, and the repetition in flight.
	done, failed     atomic.Int64
	rep              atomic.Int64
	progressFn       func(progress.State)
	meterMu          sync.Mutex
	meter            *progress.Meter // from the first repetition on
	base, baseFailed int64           // the counters then: warm-up requests are not progress
}

// NewSession validates the case and prepares a session: the model comes from Case.Model,
// the target's Describe "model" key or the first of its /v1/models, and must be one the
// server lists; the config lines come from the target, the workload and the load. Close it
// when done.
func NewSession(ctx context.Context, c Case, opt ExecOptions) (*Session, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("bad Case:\n%w", err)
	}
	if err := checkName(c.Name, opt.Settings); err != nil {
		return nil, err
	}
	s := &Session{progressFn: opt.Progress, c: c, settings: opt.Settings, logf: escapedLogf(opt.Logf), every: cmp.Or(opt.ProgressEvery, 5*time.Second), resetState: "yes", said: map[string]bool{}}
	// The workload first: a bad trace row fails before the server is asked anything.
	fp, err := c.Workload.Fingerprint()
	if err != nil {
		return nil, fmt.Errorf("workload fingerprint: %w", err)
	}
	base := strings.TrimSuffix(c.Target.BaseURL(), "/")
	desc := map[string]string{"backend": "unknown"}
	if d, ok := c.Target.(Describer); ok {
		maps.Copy(desc, d.Describe())
	}
	setting := opt.Settings.Name("Model")
	model := cmp.Or(c.Model, desc["model"])
	served, err := listModels(ctx, base, setting, c.controlTimeout())
	switch {
	case err != nil && model == "":
		return nil, err
	case err != nil:
		s.note("models", "perftest: could not check model %q against the server's list: %v", model, err)
	case model == "":
		model = served[0]
	case !slices.Contains(served, model):
		return nil, fmt.Errorf("model %q is not served by %s: it lists %q (set %s to one of them)", model, base, served, setting)
	}
	desc["model"] = modelName(model)
	if v, ok := c.Target.(Vocabulary); ok {
		switch n, err := v.VocabularySize(ctx); {
		case errors.Is(err, errors.ErrUnsupported):
		case err != nil:
			s.note("vocab", "perftest: the server's vocabulary size is unknown (%v): token ids are not checked against it", err)
		default:
			s.vocab = n
		}
	}
	s.client = newClient(base, model, c)
	if m, ok := c.Target.(MetricsSource); ok && m.MetricsURL() != "" && len(m.MetricNames()) > 0 {
		s.scraper = &scraper{url: m.MetricsURL(), names: seriesNames(m.MetricNames()), client: s.client.http}
	} else {
		s.note("metrics", "perftest: server metrics: the target exports none perfgate knows (it does not implement perftest.MetricsSource; use the engine module's target, such as vllm.Endpoint): results have no server-* metrics")
	}
	s.startServerTiming(base)
	if r, ok := c.Target.(CacheResetter); ok {
		s.reset = r
	} else {
		s.resetState = "unavailable"
		s.note("reset", "perftest: cache reset: the target cannot empty its prefix cache (it does not implement perftest.CacheResetter; use the engine module's target, such as vllm.Endpoint): every repetition after the first may replay a warm cache and look faster")
	}
	name := configValue(cmp.Or(c.Name, strings.TrimPrefix(opt.Name, "Test")))
	s.result = &Result{Name: cmp.Or(name, "Perf"), Config: s.configLines(c, opt, desc, fp), count: c.count()}
	return s, nil
}

// configLines are the config lines of the session's results: platform, hardware class,
// what the target says of itself, API, workload and load.
func (s *Session) configLines(c Case, opt ExecOptions, desc map[string]string, fingerprint string) []resultfile.KV {
	hw := cmp.Or(machine.NormalizeClass(opt.Hardware), machine.HardwareClass())
	cfg := []resultfile.KV{{Key: "goos", Value: runtime.GOOS}, {Key: "goarch", Value: runtime.GOARCH}, {Key: metric.KeyHardware, Value: configValue(hw)}}
	var he *machine.HardwareError
	if detected, err := machine.DetectHardware(); errors.As(err, &he) && hw == detected {
		s.note("hardware", "perftest: hardware: %v: the results are recorded as hardware %s, a fallback (config line %s: %s)", err, hw, metric.KeyHardwareFallback, he.Reason)
		cfg = append(cfg, resultfile.KV{Key: metric.KeyHardwareFallback, Value: resultfile.Value(he.Reason)})
	}
	if RaceEnabled {
		cfg = append(cfg, resultfile.KV{Key: "race", Value: "on"})
	}
	for _, k := range slices.Sorted(maps.Keys(desc)) {
		cfg = append(cfg, resultfile.KV{Key: k, Value: configValue(desc[k])})
	}
	return append(cfg,
		resultfile.KV{Key: "api", Value: c.API.spec().Name},
		resultfile.KV{Key: "workload", Value: configValue(c.Workload.Name())},
		resultfile.KV{Key: "fingerprint", Value: fingerprint},
		resultfile.KV{Key: "load", Value: configValue(c.Load.String())},
	)
}

// configValue makes a value safe for a benchmark config line or name (no spaces), as the
// result file will hold it (resultfile.Name: bounded, no control characters), so that the
// result in memory and its file say the same.
func configValue(v string) string {
	return resultfile.Name(strings.Join(strings.Fields(v), "_"))
}

// Result is what the session has measured so far, with its Problems and the config lines
// that say how far the numbers can be trusted (recorded, not compared):
//
//	health          "ok", or the problems: error-rate, rate-short, short-outputs
//	                (schedule-lag in files written before a late repetition became machine
//	                evidence)
//	cache-reset     whether every repetition started from an emptied prefix cache: "yes",
//	                "unavailable" (the target cannot), "failed" or "ineffective" (the server
//	                reported cached tokens right after a reset)
//	server-metrics  the server-* metrics read, "none", or "unavailable"
//	server-timing   where the server's account of each request's phases came from: "otlp",
//	                "timings", "perf-metrics" (joined by "+", with the share of requests
//	                where only some had one), "histograms", or "none"
//	itl             "per-token", or "per-chunk" when chunks carried several tokens the server
//	                did not count
//	cache-fidelity  the prefix hit ratio the workload was designed to give beside the ones the
//	                server measured (perftest/attrib's Fidelity), where it measured any
func (s *Session) Result() *Result {
	r := s.result
	r.checkHealth(s.c, s.settings)
	cfg := slices.DeleteFunc(slices.Clone(r.Config), func(kv resultfile.KV) bool { return slices.Contains(sessionNotes, kv.Key) })
	switch {
	case s.decided != nil:
		cfg = append(cfg, s.decided...)
	case s.seq != nil:
		cfg = append(cfg, resultfile.KV{Key: metric.KeyLooks, Value: s.seq.ConfigValue()})
	}
	if len(r.Reps) > 0 {
		cfg = append(cfg,
			resultfile.KV{Key: metric.KeyHealth, Value: r.health()},
			resultfile.KV{Key: metric.KeyCacheReset, Value: s.resetState},
			resultfile.KV{Key: metric.KeyServerMetrics, Value: s.serverMetrics()},
			resultfile.KV{Key: metric.KeyServerTiming, Value: s.serverTimingNote()},
			resultfile.KV{Key: metric.KeyITL, Value: s.itlAttribution()})
		if v := s.cacheFidelity(r.ConfigValue("fingerprint")); v != "" {
			cfg = append(cfg, resultfile.KV{Key: metric.KeyCacheFidelity, Value: v})
		}
	}
	r.Config = cfg
	return r
}

// sessionNotes are the config lines Result adds.
var sessionNotes = []string{metric.KeyHealth, metric.KeyCacheReset, metric.KeyServerMetrics, metric.KeyServerTiming, metric.KeyITL, metric.KeyLooks,
	metric.KeyCacheFidelity, metric.KeyAlpha, metric.KeyThreshold, metric.KeyABOrder}

// note logs a line once per key.
func (s *Session) note(key, format string, args ...any) {
	if !s.said[key] {
		s.said[key] = true
		s.logf(format, args...)
	}
}

// serverMetrics lists the server-* metrics the repetitions have.
func (s *Session) serverMetrics() string {
	if s.scraper == nil {
		return "unavailable"
	}
	var got []string
	for _, rep := range s.result.Reps {
		for _, m := range rep.Metrics {
			if u, ok := strings.CutPrefix(m.Unit, metric.ServerPrefix); ok && !slices.Contains(got, u) {
				got = append(got, u)
			}
		}
	}
	if len(got) == 0 {
		return "none"
	}
	return strings.Join(got, ",")
}

func (s *Session) itlAttribution() string {
	for _, rep := range s.result.Reps {
		if rep.Diag.PerChunkITL > 0 {
			return "per-chunk"
		}
	}
	return "per-token"
}

// checkRepetition says once what a finished repetition shows about the measurement: server
// metrics the engine does not export, and a prefix cache that was not empty after a reset.
func (s *Session) checkRepetition(rep *Repetition) {
	if s.scraper != nil {
		have := map[string]bool{}
		for _, m := range rep.Metrics {
			have[m.Unit] = true
		}
		var absent []string
		for _, d := range metric.Default().Gated() {
			if d.Server && d.OnlyWhen == "" && !have[d.Name] {
				absent = append(absent, d.Name)
			}
		}
		if len(absent) > 0 {
			s.note("absent", "perftest: server metrics: %s absent: the engine does not export them, or not under the names its module gives (%s)", strings.Join(absent, ", "), s.scraper.url)
		}
	}
	if s.resetState != "yes" || len(rep.Records) == 0 {
		return
	}
	// Requests sent before any answer began cannot hit entries made in this repetition (a
	// prompt is cached once its prefill is done, which precedes its first token); they share
	// prefixes with each other, though, so one of them finding nothing cached is enough. If
	// every one of them found cached tokens, the cache was warm before the repetition began.
	// Only requests that succeeded with a usage report count: a failed one reports nothing
	// cached because it reports nothing.
	firstAnswer := time.Duration(-1)
	for _, r := range rep.Records {
		if r.FirstToken > 0 && (firstAnswer < 0 || r.Scheduled+r.FirstToken < firstAnswer) {
			firstAnswer = r.Scheduled + r.FirstToken
		}
	}
	early, least := 0, 0
	for _, r := range rep.Records {
		if firstAnswer >= 0 && r.Scheduled+r.Sent >= firstAnswer || r.Outcome != OK || r.InputTokens == 0 {
			continue
		}
		if early == 0 || r.CachedTokens < least {
			least = r.CachedTokens
		}
		early++
	}
	if early > 0 && least > 0 {
		s.resetState = "ineffective"
		s.note("ineffective", "perftest: cache reset: all %d requests of repetition %d sent before any answer began found cached prompt tokens (at least %d each), right after the reset: the reset did not empty the cache, and repetitions may start warm",
			early, len(s.result.Reps)+1, least)
	}
}

// Close releases the session's connections and stops its OTLP receiver.
func (s *Session) Close() {
	s.client.close()
	s.timing.close()
}

// Warmup sends the case's warm-up requests (Case.Warmup), which open connections and warm
// the server, and leaves them out of the results.
func (s *Session) Warmup(ctx context.Context) error {
	n := s.c.warmup()
	if n == 0 {
		return nil
	}
	_, err := s.closedLoop(ctx, cmp.Or(s.c.Load.Concurrency, min(n, 64)), n, nil)
	s.meterMu.Lock()
	s.base, s.baseFailed = s.done.Load(), s.failed.Load() // warm-up requests are not progress
	s.meterMu.Unlock()
	if err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	return nil
}

// Repeat empties the server's prefix cache where the target can, replays the workload once
// under the case's load with the server's metrics scraped around it, and appends the
// repetition to the result. A cancelled ctx stops it early: the repetition is not counted,
// and the requests that finished before the stop go to the records file only (see
// Result.WriteFiles).
func (s *Session) Repeat(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("stopped: %w", context.Cause(ctx))
	}
	s.resetCache(ctx)
	s.timing.reset()
	s.rep.Store(int64(len(s.result.Reps) + 1))
	s.stepStarted()
	rep, err := s.repetition(ctx)
	if ctx.Err() != nil {
		// The requests that finished before the stop are kept, apart from the repetitions,
		// for the records file.
		s.result.unfinished = slices.DeleteFunc(rep.Records, func(r Record) bool { return r.Outcome == Canceled })
		return fmt.Errorf("stopped during repetition %d: %w", len(s.result.Reps)+1, context.Cause(ctx))
	}
	if err != nil {
		return err
	}
	s.joinServer(ctx, &rep)
	s.checkRepetition(&rep)
	s.result.Reps = append(s.result.Reps, rep)
	s.stepFinished(int64(rep.Requests))
	return nil
}

// stepStarted starts the progress meter's next step (and the meter, at the first).
func (s *Session) stepStarted() {
	s.meterMu.Lock()
	defer s.meterMu.Unlock()
	if s.meter == nil {
		s.meter = progress.NewMeter(s.result.Name+": repetition", s.result.count, time.Now())
	}
	s.meter.SetSteps(s.result.count)
	s.meter.StartStep(s.done.Load() - s.base)
}

// counters are the requests done and failed since the first repetition began.
func (s *Session) counters() (done, failed int64) {
	return s.done.Load() - s.base, s.failed.Load() - s.baseFailed
}

// stepFinished reports a finished repetition; the first one's size is the estimate of the
// others'.
func (s *Session) stepFinished(requests int64) {
	s.meterMu.Lock()
	defer s.meterMu.Unlock()
	if len(s.result.Reps) == 1 {
		s.meter.ExpectPerStep(requests)
	}
	done, failed := s.counters()
	s.emit(s.meter.State(time.Now(), done, failed, true))
}

// emit hands a state to ExecOptions.Progress, or logs a finished step's line; the caller
// holds meterMu, so that states go out one at a time.
func (s *Session) emit(st progress.State) {
	switch {
	case s.progressFn != nil:
		s.progressFn(st)
	case st.Finished:
		s.logf("perftest: %s", st)
	}
}

// resetCache asks the target to drop its prefix cache, saying once when that failed.
func (s *Session) resetCache(parent context.Context) {
	if s.reset == nil {
		return
	}
	ctx, cancel := context.WithTimeout(parent, s.c.controlTimeout())
	defer cancel()
	err := s.reset.ResetPrefixCache(ctx)
	if err == nil || parent.Err() != nil {
		return
	}
	if errors.Is(err, errors.ErrUnsupported) {
		s.resetState = "unavailable"
		s.note("reset", "perftest: cache reset: %v: every repetition after the first may replay a warm cache and look faster", err)
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
	return s.run(ctx, c.count(), true)
}

// run warms the server up when warm is set and runs n more repetitions, with progress
// states every ProgressEvery when ExecOptions.Progress is set; it returns the result,
// marked partial, with the error when cut short.
func (s *Session) run(ctx context.Context, n int, warm bool) (*Result, error) {
	s.result.count = len(s.result.Reps) + n
	if s.progressFn != nil {
		defer s.progress()()
	}
	var err error
	if warm {
		err = s.Warmup(ctx)
	}
	for i := 0; err == nil && i < n; i++ {
		err = s.Repeat(ctx)
	}
	res := s.Result()
	res.Partial = err != nil
	return res, err
}

// progress hands ExecOptions.Progress the session's progress every interval while a
// repetition runs, until the returned stop is called.
func (s *Session) progress() (stop func()) {
	quit := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(s.every)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case now := <-t.C:
				s.meterMu.Lock()
				if s.meter != nil {
					done, failed := s.counters()
					s.emit(s.meter.State(now, done, failed, false))
				}
				s.meterMu.Unlock()
			}
		}
	}()
	return func() { close(quit); <-exited }
}

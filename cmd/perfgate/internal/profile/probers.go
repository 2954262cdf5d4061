package profile

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/perfgate/perfgate/backends/mock"
	"github.com/perfgate/perfgate/fixtures"
	"github.com/perfgate/perfgate/perftest"
	"github.com/perfgate/perfgate/perftest/progress"
)

// Endpoint probes an OpenAI-compatible server at url (its root, without /v1) through
// perftest's runner: token-id prompts to /v1/completions, every chunk stamped as it
// arrives. It reads the KV capacity from vLLM's vllm:cache_config_info series
// (block_size x num_gpu_blocks) on url/metrics, within the control timeout and a size
// limit.
func Endpoint(url string, opt EndpointOptions) Prober {
	return endpoint{url: strings.TrimRight(url, "/"), opt: opt}
}

// EndpointOptions say how Endpoint talks to the server. The zero value asks the server for
// its model, uses perftest's request timeouts (Case.Timeout, Case.StallTimeout) and says
// nothing while a burst runs.
type EndpointOptions struct {
	// Model is the model name ("": the server's first).
	Model string
	// Timeout bounds a request, StallTimeout the wait for its next streamed event (0:
	// perftest's defaults); Timeout also bounds the /metrics read (at most 30 seconds).
	Timeout, StallTimeout time.Duration
	// Settings name the settings in the runner's messages (perfgate profile: its flags).
	Settings perftest.Settings
	// Waiting, when set, receives a line every WaitEvery (0: 10 seconds) while a burst
	// runs, so that a stalled server shows as waiting, not as nothing.
	Waiting   func(format string, args ...any)
	WaitEvery time.Duration
}

// Limits of the /metrics read: a vLLM exposition is tens of KiB.
const (
	maxMetricsBytes  = 16 << 20
	maxMetricsWait   = 30 * time.Second
	waitEveryDefault = 10 * time.Second
)

type endpoint struct {
	url string
	opt EndpointOptions
}

func (e endpoint) Probe(ctx context.Context, b Burst) ([]Timing, error) {
	c := perftest.Case{
		Name:         "PerfProfile",
		Target:       perftest.Endpoint(e.url),
		Model:        e.opt.Model,
		Workload:     repeated{b},
		Load:         perftest.Concurrency(b.Concurrency),
		Count:        1,
		Warmup:       -1,
		MaxErrorRate: -1,
		Timeout:      e.opt.Timeout,
		StallTimeout: e.opt.StallTimeout,
	}
	xo := perftest.ExecOptions{Logf: func(string, ...any) {}, Settings: e.opt.Settings}
	if e.opt.Waiting != nil {
		xo.ProgressEvery = cmp.Or(e.opt.WaitEvery, waitEveryDefault)
		xo.Progress = func(s progress.State) {
			if !s.Finished {
				e.opt.Waiting("profile: burst of %d requests (ISL %d, OSL %d, %d in flight): %d done after %v", b.Requests, b.ISL, b.OSL,
					b.Concurrency, s.StepRequests, s.Elapsed.Round(time.Second))
			}
		}
	}
	res, err := perftest.Execute(ctx, c, xo)
	if err != nil {
		return nil, err
	}
	if len(res.Reps) == 0 {
		return nil, fmt.Errorf("probe %s: no repetition ran", e.url)
	}
	var out []Timing
	var firstErr string
	for _, r := range res.Reps[0].Records {
		if r.Outcome != perftest.OK || len(r.Tokens) != r.OutputTokens {
			if firstErr == "" {
				firstErr = fmt.Sprintf("request %d: %s %s (%d chunks for %d tokens)", r.Index, r.Outcome, r.Error, len(r.Tokens), r.OutputTokens)
			}
			continue
		}
		t := Timing{Index: r.Index, Sent: r.Scheduled, Tokens: make([]time.Duration, len(r.Tokens)), Cached: r.CachedTokens}
		for i, d := range r.Tokens {
			t.Tokens[i] = r.Scheduled + d
		}
		out = append(out, t)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("probe %s: no request finished with one chunk per token: %s", e.url, firstErr)
	}
	return out, nil
}

func (e endpoint) KVCapacity(ctx context.Context) (int, error) {
	wait := min(cmp.Or(e.opt.Timeout, maxMetricsWait), maxMetricsWait)
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.url+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if errors.Is(err, context.DeadlineExceeded) {
		return 0, fmt.Errorf("read KV capacity: %s/metrics: no answer within %v; give the KV cache size (--kv-capacity)", e.url, wait)
	}
	if err != nil {
		return 0, fmt.Errorf("read KV capacity: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, nil // no metrics: the caller asks for --kv-capacity
	}
	return e.kvCapacity(ctx, &io.LimitedReader{R: resp.Body, N: maxMetricsBytes + 1}, wait)
}

// kvCapacity reads vllm:cache_config_info from the exposition in body. Only that family's
// lines are kept and parsed, so that a large exposition costs its reading, not memory.
func (e endpoint) kvCapacity(ctx context.Context, body *io.LimitedReader, wait time.Duration) (int, error) {
	const family = "vllm:cache_config_info"
	var kept bytes.Buffer
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if bytes.Equal(metricName(line), []byte(family)) && kept.Len() < 1<<20 {
			kept.Write(line)
			kept.WriteByte('\n')
		}
	}
	switch {
	case body.N <= 0:
		return 0, fmt.Errorf("read KV capacity: %s/metrics: the exposition is over %d MiB; give the KV cache size (--kv-capacity)", e.url, maxMetricsBytes>>20)
	case ctx.Err() != nil:
		return 0, fmt.Errorf("read KV capacity: %s/metrics: the answer did not end within %v; give the KV cache size (--kv-capacity)", e.url, wait)
	case sc.Err() != nil:
		return 0, fmt.Errorf("read KV capacity: %s/metrics: %w", e.url, sc.Err())
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(&kept)
	if err != nil {
		return 0, fmt.Errorf("read KV capacity: %s/metrics: %w", e.url, err)
	}
	f, ok := fams["vllm:cache_config_info"]
	if !ok {
		return 0, nil
	}
	for _, m := range f.GetMetric() {
		var bs, nb int
		for _, l := range m.GetLabel() {
			switch l.GetName() {
			case "block_size":
				bs, _ = strconv.Atoi(l.GetValue())
			case "num_gpu_blocks":
				nb, _ = strconv.Atoi(l.GetValue())
			}
		}
		if bs > 0 && nb > 0 {
			return bs * nb, nil
		}
	}
	return 0, nil
}

// metricName is the family a line of the text exposition is about: the sample's name, or
// the name a # HELP or # TYPE line describes (nil for other comments).
func metricName(line []byte) []byte {
	if rest, ok := bytes.CutPrefix(line, []byte("# ")); ok {
		kind, rest, _ := bytes.Cut(rest, []byte(" "))
		if string(kind) != "HELP" && string(kind) != "TYPE" {
			return nil
		}
		line = rest
	}
	end := bytes.IndexAny(line, "{ \t")
	if end < 0 {
		end = len(line)
	}
	return line[:end]
}

// Simulated probes the simulator with cfg on the virtual clock (mock.ReplayCluster, one
// worker): the timings are the engine's own, exactly, in no time, so a profile run against
// it checks the sweeps and fits without noise.
func Simulated(cfg mock.Config) Prober { return simulated{cfg} }

type simulated struct{ cfg mock.Config }

func (s simulated) Probe(ctx context.Context, b Burst) ([]Timing, error) {
	reqs := func(yield func(mock.ReplayRequest, error) bool) {
		for r, err := range (repeated{b}).Requests() {
			if err == nil {
				err = ctx.Err()
			}
			if !yield(mock.ReplayRequest{Tokens: r.Tokens, MaxTokens: r.OutputTokens}, err) {
				return
			}
		}
	}
	var out []Timing
	_, err := mock.ReplayCluster(mock.ClusterConfig{Worker: s.cfg}, iter.Seq2[mock.ReplayRequest, error](reqs),
		mock.ClusterReplayOptions{Concurrency: b.Concurrency, TokenTimes: true}, func(r mock.ClusterReplayResult) {
			if r.Err != nil {
				return
			}
			t := Timing{Index: r.Index, Sent: r.Arrival, Tokens: make([]time.Duration, len(r.Tokens)), Cached: r.CachedTokens}
			for i, d := range r.Tokens {
				t.Tokens[i] = r.Arrival + d
			}
			out = append(out, t)
		})
	return out, err
}

func (s simulated) KVCapacity(context.Context) (int, error) {
	c := s.cfg
	if c.UnlimitedKVCache {
		return 0, nil
	}
	bs, nb := c.BlockSize, c.NumGPUBlocks
	if bs == 0 {
		bs = mock.DefaultBlockSize
	}
	if nb == 0 {
		nb = mock.DefaultNumGPUBlocks
	}
	return bs * nb, nil
}

// repeated is a burst's workload: random token-id prompts, each sent Repeat times in a row.
type repeated struct{ b Burst }

func (w repeated) base() fixtures.Synthetic {
	n := max(w.b.Repeat, 1)
	return fixtures.Synthetic{ISL: w.b.ISL, OSL: w.b.OSL, Prompts: (w.b.Requests + n - 1) / n, Seed: w.b.Seed}
}

func (w repeated) Name() string { return "profile-burst" }

func (w repeated) Fingerprint() (string, error) { return fixtures.Fingerprint(w.Name(), w.b) }

func (w repeated) Requests() iter.Seq2[fixtures.Request, error] {
	return func(yield func(fixtures.Request, error) bool) {
		i := 0
		for r, err := range w.base().Requests() {
			for range max(w.b.Repeat, 1) {
				if i == w.b.Requests {
					return
				}
				r.Index = i
				i++
				if !yield(r, err) || err != nil {
					return
				}
			}
		}
	}
}

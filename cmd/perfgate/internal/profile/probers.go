package profile

import (
	"context"
	"fmt"
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
)

// Endpoint probes an OpenAI-compatible server at url (its root, without /v1) through
// perftest's runner: token-id prompts to /v1/completions, every chunk stamped as it
// arrives. model "" asks the server. It reads the KV capacity from vLLM's
// vllm:cache_config_info series (block_size x num_gpu_blocks) on url/metrics.
func Endpoint(url, model string) Prober {
	return endpoint{url: strings.TrimRight(url, "/"), model: model}
}

type endpoint struct{ url, model string }

func (e endpoint) Probe(ctx context.Context, b Burst) ([]Timing, error) {
	c := perftest.Case{
		Name:         "PerfProfile",
		Target:       perftest.Endpoint(e.url),
		Model:        e.model,
		Workload:     repeated{b},
		Load:         perftest.Concurrency(b.Concurrency),
		Count:        1,
		Warmup:       -1,
		MaxErrorRate: -1,
	}
	res, err := perftest.Execute(ctx, c, perftest.ExecOptions{Logf: func(string, ...any) {}})
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
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.url+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("read KV capacity: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, nil // no metrics: the caller asks for --kv-capacity
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
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

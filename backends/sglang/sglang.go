// Package sglang runs the SGLang server (image lmsysorg/sglang) as a testcontainers-go module
// for perf cases.
//
//	srv := sglang.Start(t, sglang.Config{Model: "Qwen/Qwen3-0.6B"})
//
// The container runs `python3 -m sglang.launch_server --model-path M --host 0.0.0.0 --port
// 30000` as SGLang's docker/compose.yaml does (Hugging Face cache mounted, HF_TOKEN set,
// ulimits memlock=-1 and stack=67108864, shared memory), with --enable-cache-report always on
// so streamed usage reports cached prompt tokens (prompt_tokens_details.cached_tokens, left
// out when 0) and --enable-metrics so that /metrics exists. [Engine] says what perfgate knows
// of SGLang; [Endpoint] is a server you run.
//
// The server's account of each request's phases: per repetition, its queue_time_seconds
// histogram and per_stage_req_latency_seconds{stage="prefill_forward"} (from the forward's
// start to the end of prefill: srt/observability/metrics_collector.py and
// req_time_stats.py); it has no per-request decode histogram (its decode_loop stage is per
// step). Per request, SGLang exports OTLP spans with --enable-trace --otlp-traces-endpoint
// HOST:PORT (gRPC by default), whose request span carries gen_ai.latency.time_to_first_token,
// e2e, time_in_model_prefill, time_in_model_decode, time_in_model_inference and
// gen_ai.usage.cached_tokens, and no time_in_queue: its prefill runs from the request's
// dispatch to the scheduler to its first token, queue included (req_time_stats.py,
// convert_to_gen_ai_span_attrs). The module does not start SGLang with tracing: perftest's
// receiver speaks OTLP/HTTP, and SGLang's choice of protocol was not checked; for a server
// you run that exports over HTTP, set TracesAddr on a copy of Engine (its queue then counts
// in the prefill part). SGLang puts no timings on the stream.
package sglang

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"

	"github.com/perfgate/perfgate/backends"
	"github.com/perfgate/perfgate/backends/internal/kit"
	"github.com/perfgate/perfgate/backends/internal/shell"
	"github.com/perfgate/perfgate/perftest/engines"
)

const (
	// DefaultImage is the SGLang image used when Config.Image is empty (the release the
	// install guide names; its images are built for CUDA 13, v0.5.19-cu129 was the last for 12).
	DefaultImage = "lmsysorg/sglang:v0.5.21"
	// DefaultModel is the model served when Config.Model is empty.
	DefaultModel = "Qwen/Qwen3-0.6B"
	// Port is the container port SGLang listens on (its default, 30000).
	Port = "30000/tcp"
)

// Config describes an SGLang server. The zero value serves DefaultModel from DefaultImage on
// one GPU with the radix (prefix) cache on.
type Config struct {
	Image string // image reference; DefaultImage when empty
	Model string // --model-path; DefaultModel when empty

	TensorParallelSize int      // --tp-size; 1 when 0
	MaxRunningRequests int      // --max-running-requests; SGLang's default when 0
	DisableRadixCache  bool     // --disable-radix-cache (no prefix caching)
	ExtraArgs          []string // appended to the launch flags

	// GPUs is how many GPUs to attach: 0 means TensorParallelSize, backends.NoGPU none.
	GPUs int
	// CacheDir is the Hugging Face cache: a Docker volume name or an absolute host path,
	// backends.DefaultCacheVolume when empty, backends.NoCache for none.
	CacheDir string
	// ShmSize is /dev/shm in bytes; backends.DefaultShmSize when 0, Docker's default when < 0.
	ShmSize int64
	// Env is extra container environment; HF_TOKEN comes from the process environment.
	Env map[string]string
	// StartupTimeout bounds model download and loading; backends.DefaultStartupTimeout when 0.
	StartupTimeout time.Duration
	// LogDir receives the container log; Start uses t.ArtifactDir() when empty.
	LogDir string
}

// Cmd returns the container command for c.
func (c Config) Cmd() []string {
	cmd := []string{
		"python3", "-m", "sglang.launch_server",
		"--model-path", cmp.Or(c.Model, DefaultModel),
		"--host", "0.0.0.0",
		"--port", "30000",
		"--tp-size", strconv.Itoa(max(c.TensorParallelSize, 1)),
	}
	if c.MaxRunningRequests > 0 {
		cmd = append(cmd, "--max-running-requests", strconv.Itoa(c.MaxRunningRequests))
	}
	if c.DisableRadixCache {
		cmd = append(cmd, "--disable-radix-cache")
	}
	cmd = append(cmd, "--enable-cache-report", "--enable-metrics")
	return append(cmd, c.ExtraArgs...)
}

// Spec is the container spec Run starts for c, before options.
func (c Config) Spec() backends.Spec {
	return backends.Spec{
		Backend:  "sglang",
		Image:    cmp.Or(c.Image, DefaultImage),
		Model:    cmp.Or(c.Model, DefaultModel),
		Cmd:      c.Cmd(),
		Port:     Port,
		GPUs:     kit.GPUCount(c.GPUs, c.TensorParallelSize),
		ShmSize:  cmp.Or(c.ShmSize, backends.DefaultShmSize),
		Ulimits:  kit.NVIDIAUlimits(),
		CacheDir: cmp.Or(c.CacheDir, backends.DefaultCacheVolume),
		Env:      c.Env,
		Timeout:  c.StartupTimeout,
		Engine:   Engine,
	}
}

// Request returns the container request Run would send for cfg, with opts applied after the
// module's defaults. It does not contact Docker.
func Request(cfg Config, opts ...testcontainers.ContainerCustomizer) (testcontainers.GenericContainerRequest, error) {
	return cfg.Spec().Build(opts...)
}

// Container is a started SGLang server.
type Container struct {
	*backends.Container
}

// Run starts SGLang and waits until /health answers and /v1/models lists the model. On error
// it returns the partly started container too; errors read "start sglang: ...".
func Run(ctx context.Context, cfg Config, opts ...testcontainers.ContainerCustomizer) (*Container, error) {
	return shell.Run[Container](ctx, cfg.Spec(), cfg.LogDir, opts)
}

// Start is Run for tests: it skips tb without Docker or GPUs, removes the container when the
// test ends, keeps its log, and fails tb with the exit code and log tail if the server exits
// while the test runs.
func Start(tb testing.TB, cfg Config, opts ...testcontainers.ContainerCustomizer) *Container {
	tb.Helper()
	return shell.Start[Container](tb, cfg.Spec(), cfg.LogDir, opts)
}

// Engine is what perfgate knows of SGLang beyond the OpenAI API (checked against
// python/sglang/srt/entrypoints/http_server.py and srt/observability/metrics_collector.py,
// v0.5.x):
//
//   - the cache reset is /flush_cache (GET or POST). It answers 400 while requests are
//     running or waiting; ?timeout=S (newer releases) waits up to S seconds for the engine to
//     go idle, older ones ignore it, so the reset asks with a timeout and retries on 400;
//   - metrics need --enable-metrics (Config turns it on). sglang:cache_hit_rate holds only
//     the last batch's ratio, so the hit ratio comes from the counters:
//     sglang:cached_tokens_total{cache_source="total"} over sglang:prompt_tokens_total; there
//     is no preemption counter but sglang:num_retracted_requests_total.
var Engine = backends.Engine{
	Name: "sglang",
	MetricNames: map[string]string{
		"prefix-hits":    `sglang:cached_tokens_total{cache_source="total"}|sglang:cached_tokens_total`,
		"prefix-queries": "sglang:prompt_tokens_total",
		"preemptions":    "sglang:num_retracted_requests_total",
		"queue-time":     "sglang:queue_time_seconds",
		"prefill-time":   `sglang:per_stage_req_latency_seconds{stage="prefill_forward"}`,
		"kv-usage":       "sglang:token_usage",
		"waiting":        "sglang:num_queue_reqs",
		// Speculative decoding: gauges of the last decode log interval
		// (scheduler_metrics_mixin.py), 0 without a speculative algorithm; the accept length
		// counts the target's own token.
		"spec-acceptance":    "sglang:spec_accept_rate",
		"spec-accept-length": "sglang:spec_accept_length",
	},
	Reset:   flushCache,
	Request: request,
}

// flushCache asks SGLang to flush its radix cache, retrying while it answers 400 because
// requests are still in the engine (the last stream's request can linger a moment after
// its [DONE]).
func flushCache(ctx context.Context, base string) error {
	var err error
	for wait := 100 * time.Millisecond; ; wait *= 2 {
		if _, err = kit.Call(ctx, http.MethodPost, base+"/flush_cache?timeout=30"); err == nil {
			return nil
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("flush SGLang cache: %w (gave up: %w)", err, ctx.Err())
		case <-t.C:
		}
		if wait > 5*time.Second {
			return fmt.Errorf("flush SGLang cache: %w", err)
		}
	}
}

// Endpoint is an SGLang server you run, at url: a perf case's target that flushes its cache
// and reads its metrics (when it runs with --enable-metrics).
func Endpoint(url string) *backends.Server { return backends.Endpoint(url, Engine) }

// The engine is known by name to -perf.engine (perftest/engines) wherever this module is
// linked.
func init() {
	engines.Register(Engine.Name, func(url string) engines.Target { return Endpoint(url) })
}

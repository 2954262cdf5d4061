// Package vllm runs the vLLM OpenAI-compatible server (image vllm/vllm-openai) as a
// testcontainers-go module for perf cases.
//
//	srv := vllm.Start(t, vllm.Config{Model: "Qwen/Qwen3-0.6B", MaxNumSeqs: 64})
//	res := perftest.Run(t, perftest.Case{Target: srv, ...})
//
// The container is launched the way vLLM's Docker guide shows (docker run --gpus ...
// -v ~/.cache/huggingface:/root/.cache/huggingface --env HF_TOKEN -p 8000:8000 --ipc=host or
// --shm-size, vllm/vllm-openai --model M): the arguments follow the image's entrypoint,
// with --enable-prompt-tokens-details always on so streamed usage reports cached tokens, and
// VLLM_SERVER_DEV_MODE=1 so that POST /reset_prefix_cache exists: perf cases empty the
// prefix cache before every repetition ([Container.ResetPrefixCache]).
//
// What perftest needs to know of vLLM lives here: [Container] and [Server] (a vLLM server
// you already run, from [Endpoint]) reset the prefix cache and name vLLM's metrics.
//
// Any image whose entrypoint takes vLLM's launch flags works through the same code path,
// such as the perfgate simulator image (see backends/mockcontainer):
//
//	vllm.Start(t, vllm.Config{Image: img, Model: "sim-llama-8b", GPUs: backends.NoGPU})
package vllm

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"

	"github.com/perfgate/perfgate/backends"
)

const (
	// DefaultImage is the vLLM image used when Config.Image is empty.
	DefaultImage = "vllm/vllm-openai:v0.11.0"
	// DefaultModel is the model served when Config.Model is empty.
	DefaultModel = "Qwen/Qwen3-0.6B"
	// Port is the container port vLLM listens on.
	Port = "8000/tcp"
)

// Config describes a vLLM server. The zero value serves DefaultModel from DefaultImage on
// one GPU with prefix caching on.
type Config struct {
	Image string // image reference; DefaultImage when empty
	Model string // --model; DefaultModel when empty

	// PositionalModel passes the model as the first argument instead of --model, for images
	// whose entrypoint is `vllm serve` in versions that reject --model there (the official
	// image's entrypoint was python3 -m vllm.entrypoints.openai.api_server, which needs
	// --model, as vLLM's Docker guide shows).
	PositionalModel bool

	TensorParallelSize int      // --tensor-parallel-size; 1 when 0
	MaxNumSeqs         int      // --max-num-seqs; vLLM's default when 0
	NoPrefixCaching    bool     // --no-enable-prefix-caching instead of --enable-prefix-caching
	ExtraArgs          []string // appended to the launch flags, e.g. "--max-model-len", "4096"

	// GPUs is how many GPUs to attach: 0 means TensorParallelSize, backends.NoGPU none
	// (for CPU images such as the simulator).
	GPUs int
	// CacheDir is the Hugging Face cache: a Docker volume name or an absolute host path,
	// backends.DefaultCacheVolume when empty, backends.NoCache for none.
	CacheDir string
	// ShmSize is /dev/shm in bytes; backends.DefaultShmSize when 0, Docker's default when < 0.
	ShmSize int64
	// Env is extra container environment. HF_TOKEN is passed from the process environment
	// on its own; do not put secrets here, they are not redacted.
	Env map[string]string
	// StartupTimeout bounds model download and loading; backends.DefaultStartupTimeout when 0.
	StartupTimeout time.Duration
	// LogDir receives the container log; Start uses t.ArtifactDir() when empty.
	LogDir string
}

// Args returns the vLLM launch flags for c, as passed to the image's entrypoint.
func (c Config) Args() []string {
	args := []string{"--model", cmp.Or(c.Model, DefaultModel)}
	if c.PositionalModel {
		args = args[1:]
	}
	args = append(args,
		"--host", "0.0.0.0",
		"--port", "8000",
		"--tensor-parallel-size", strconv.Itoa(max(c.TensorParallelSize, 1)),
	)
	if c.MaxNumSeqs > 0 {
		args = append(args, "--max-num-seqs", strconv.Itoa(c.MaxNumSeqs))
	}
	if c.NoPrefixCaching {
		args = append(args, "--no-enable-prefix-caching")
	} else {
		args = append(args, "--enable-prefix-caching")
	}
	args = append(args, "--enable-prompt-tokens-details")
	return append(args, c.ExtraArgs...)
}

// Spec is the container spec Run starts for c, before options.
func (c Config) Spec() backends.Spec {
	env := map[string]string{devModeEnv: "1"}
	maps.Copy(env, c.Env)
	return backends.Spec{
		Backend:  "vllm",
		Image:    cmp.Or(c.Image, DefaultImage),
		Model:    cmp.Or(c.Model, DefaultModel),
		Cmd:      c.Args(),
		Port:     Port,
		GPUs:     backends.GPUCount(c.GPUs, c.TensorParallelSize),
		ShmSize:  cmp.Or(c.ShmSize, backends.DefaultShmSize),
		CacheDir: cmp.Or(c.CacheDir, backends.DefaultCacheVolume),
		Env:      env,
		Timeout:  c.StartupTimeout,
	}
}

// Request returns the container request Run would send for cfg, with opts applied after the
// module's defaults. It does not contact Docker.
func Request(cfg Config, opts ...testcontainers.ContainerCustomizer) (testcontainers.GenericContainerRequest, error) {
	return cfg.Spec().Build(opts...)
}

// Container is a started vLLM server.
type Container struct {
	*backends.Container
}

// Run starts vLLM and waits until /health answers and /v1/models lists the model. On error
// it returns the partly started container too, so the caller can terminate it; errors read
// "start vllm: ...", wrap backends.ErrNoGPU when the engine has no nvidia runtime, and quote
// the container's last log lines when it failed while loading.
func Run(ctx context.Context, cfg Config, opts ...testcontainers.ContainerCustomizer) (*Container, error) {
	c, err := backends.Run(ctx, cfg.Spec(), backends.Options{LogDir: cfg.LogDir}, opts...)
	return wrapContainer(c), err
}

// Start is Run for tests: it skips tb without Docker or without the GPUs cfg needs, removes
// the container when the test ends, keeps its log, and fails tb with the exit code and log
// tail if the server exits while the test runs.
func Start(tb testing.TB, cfg Config, opts ...testcontainers.ContainerCustomizer) *Container {
	tb.Helper()
	return wrapContainer(backends.Start(tb, cfg.Spec(), backends.Options{LogDir: cfg.LogDir}, opts...))
}

func wrapContainer(c *backends.Container) *Container {
	if c == nil {
		return nil
	}
	return &Container{c}
}

// devModeEnv enables vLLM's development routes, /reset_prefix_cache among them.
const devModeEnv = "VLLM_SERVER_DEV_MODE"

// ResetPrefixCache empties the server's prefix cache (POST /reset_prefix_cache), which
// perftest calls before every repetition (perftest.CacheResetter).
func (c *Container) ResetPrefixCache(ctx context.Context) error {
	return resetPrefixCache(ctx, c.BaseURL())
}

// MetricNames maps perftest's server metrics to vLLM's Prometheus names
// (perftest.MetricsSource).
func (c *Container) MetricNames() map[string]string { return metricNames() }

// Server is a vLLM server that is already running: a perf case's target with vLLM's cache
// reset and metric names, as a container has them.
type Server struct{ url string }

// Endpoint is a vLLM server at url (its root, with or without "/v1"). The cache reset
// needs the server started with VLLM_SERVER_DEV_MODE=1.
func Endpoint(url string) *Server {
	return &Server{url: strings.TrimSuffix(strings.TrimSuffix(url, "/"), "/v1")}
}

// BaseURL is the server's root (perftest.Target).
func (s *Server) BaseURL() string { return s.url }

// Describe names the backend (perftest.Describer).
func (s *Server) Describe() map[string]string { return map[string]string{"backend": "vllm"} }

// MetricsURL is the server's Prometheus endpoint.
func (s *Server) MetricsURL() string { return s.url + "/metrics" }

// MetricNames maps perftest's server metrics to vLLM's Prometheus names.
func (s *Server) MetricNames() map[string]string { return metricNames() }

// ResetPrefixCache empties the server's prefix cache (POST /reset_prefix_cache).
func (s *Server) ResetPrefixCache(ctx context.Context) error { return resetPrefixCache(ctx, s.url) }

func resetPrefixCache(ctx context.Context, base string) error {
	if err := backends.Post(ctx, base+"/reset_prefix_cache"); err != nil {
		return fmt.Errorf("reset vLLM prefix cache (the route needs %s=1): %w", devModeEnv, err)
	}
	return nil
}

// metricNames are vLLM V1's names (vllm/v1/metrics/loggers.py).
func metricNames() map[string]string {
	return map[string]string{
		"prefix-hits":    "vllm:prefix_cache_hits_total",
		"prefix-queries": "vllm:prefix_cache_queries_total",
		"preemptions":    "vllm:num_preemptions_total",
		"queue-time":     "vllm:request_queue_time_seconds",
		"kv-usage":       "vllm:kv_cache_usage_perc",
		"waiting":        "vllm:num_requests_waiting",
	}
}

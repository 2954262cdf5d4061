// Package trtllm runs TensorRT-LLM's OpenAI-compatible server (trtllm-serve, image
// nvcr.io/nvidia/tensorrt-llm/release) as a testcontainers-go module for perf cases.
//
//	srv := trtllm.Start(t, trtllm.Config{Model: "TinyLlama/TinyLlama-1.1B-Chat-v1.0"})
//
// The container runs `trtllm-serve MODEL --host 0.0.0.0 --port 8000 --backend pytorch` with
// the options of TensorRT-LLM's quick start guide (--ipc host or shared memory, --ulimit
// memlock=-1 --ulimit stack=67108864, -p 8000:8000), checked against
// tensorrt_llm/commands/serve.py and serve/openai_server.py of the 1.2/1.3 releases. It
// adds an options file (--extra_llm_api_options) with return_perf_metrics and
// enable_iter_perf_stats, without which trtllm-serve serves no Prometheus metrics: its
// /metrics is JSON iteration stats, drained as read; Prometheus text is at
// /prometheus/metrics. The file also keeps the perf metrics of the last 65,536 requests
// (perf_metrics_max_requests, 0 by default: none kept), which trtllm-serve serves, drained
// as read, at GET /perf_metrics: each finished request's arrival, first scheduling, first
// and last token on the server's steady clock, and its KV-cache blocks reused and missed
// (tensorrt_llm/serve/openai_server.py, get_perf_metrics; they are not in the response,
// whatever return_perf_metrics suggests). perftest reads them after every repetition and
// joins each to its request by the request id the stream's chunk ids carry ("cmpl-7":
// postprocess_handlers.py names a stream f"{prefix}-{rsp.id}" on TensorRT-LLM's main
// branch; a release that names streams by random ids cannot be joined, and perftest says
// so). trtllm-serve exports no OTLP spans of requests (its tracing, where a release has
// one, is of the executor, not per request with phase attributes) and puts no timings on
// the stream. A Config whose ExtraArgs pass their own --extra_llm_api_options or
// --config replaces that file: put both settings in yours. trtllm-serve has no prefix-cache
// reset: repetitions after the first may start warm, and results say so.
//
// trtllm-serve rejects request fields its OpenAI protocol models do not declare (pydantic
// extra="forbid", answered with HTTP 400 and {"error": ...}). The fields perftest sends
// (model, prompt, max_tokens, min_tokens, ignore_eos, stream, stream_options, temperature)
// are all declared; a case whose Case.Extra holds a field this module does not know as
// declared (see request.go) fails before its first request, naming the field.
package trtllm

import (
	"cmp"
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"

	"github.com/perfgate/perfgate/backends"
	"github.com/perfgate/perfgate/backends/internal/kit"
	"github.com/perfgate/perfgate/backends/internal/shell"
	"github.com/perfgate/perfgate/perftest/engines"
)

const (
	// DefaultImage is the TensorRT-LLM image used when Config.Image is empty: the stable
	// release of the 1.2 line (1.3 release candidates are published beside it).
	DefaultImage = "nvcr.io/nvidia/tensorrt-llm/release:1.2.1"
	// DefaultModel is the model served when Config.Model is empty.
	DefaultModel = "Qwen/Qwen3-0.6B"
	// Port is the container port trtllm-serve listens on.
	Port = "8000/tcp"
)

// Config describes a trtllm-serve server. The zero value serves DefaultModel from
// DefaultImage on one GPU with the PyTorch backend.
type Config struct {
	Image string // image reference; DefaultImage when empty
	Model string // the MODEL argument; DefaultModel when empty

	Backend            string   // --backend; "pytorch" when empty
	TensorParallelSize int      // --tp_size; 1 when 0
	MaxBatchSize       int      // --max_batch_size; trtllm-serve's default when 0
	MaxNumTokens       int      // --max_num_tokens; trtllm-serve's default when 0
	ExtraArgs          []string // appended to the launch flags, e.g. "--extra_llm_api_options", "/cfg.yaml"

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
		"trtllm-serve", cmp.Or(c.Model, DefaultModel),
		"--host", "0.0.0.0",
		"--port", "8000",
		"--backend", cmp.Or(c.Backend, "pytorch"),
		"--tp_size", strconv.Itoa(max(c.TensorParallelSize, 1)),
	}
	if c.MaxBatchSize > 0 {
		cmd = append(cmd, "--max_batch_size", strconv.Itoa(c.MaxBatchSize))
	}
	if c.MaxNumTokens > 0 {
		cmd = append(cmd, "--max_num_tokens", strconv.Itoa(c.MaxNumTokens))
	}
	if !c.ownOptions() {
		cmd = append(cmd, "--extra_llm_api_options", optionsPath)
	}
	return append(cmd, c.ExtraArgs...)
}

// optionsPath is where the module's LLM API options file goes in the container.
const optionsPath = "/etc/perfgate/extra-llm-api-options.yaml"

// options turns on the Prometheus metrics and the per-request perf metrics perftest reads.
const options = "return_perf_metrics: true\nenable_iter_perf_stats: true\nperf_metrics_max_requests: 65536\n"

// ownOptions reports whether ExtraArgs bring their own options file.
func (c Config) ownOptions() bool {
	return slices.ContainsFunc(c.ExtraArgs, func(a string) bool {
		return a == "--extra_llm_api_options" || a == "--config" || strings.HasPrefix(a, "--extra_llm_api_options=") || strings.HasPrefix(a, "--config=")
	})
}

// Engine is what perfgate knows of trtllm-serve beyond the OpenAI API: metrics at
// /prometheus/metrics with trtllm_* names (tensorrt_llm/metrics/collector.py; which of them
// a release exports varies, and the ones it lacks are reported absent), and no cache reset.
var Engine = backends.Engine{
	Name:            "trtllm",
	MetricsPath:     "/prometheus/metrics",
	PerfMetricsPath: "/perf_metrics",
	MetricNames: map[string]string{
		"prefix-hits":    "trtllm_prompt_cached_tokens_total",
		"prefix-queries": "trtllm_prompt_tokens_total",
		"queue-time":     "trtllm_request_queue_time_seconds",
		"kv-usage":       "trtllm_kv_cache_utilization",
		"waiting":        "trtllm_num_requests_waiting",
		// Speculative decoding (specDecodingStats in its metrics collector), in releases
		// that export it.
		"spec-draft-tokens":    "trtllm_spec_decode_num_draft_tokens_total",
		"spec-accepted-tokens": "trtllm_spec_decode_num_accepted_tokens_total",
		"spec-accept-length":   "trtllm_spec_decode_acceptance_length",
	},
	Request: request,
}

// Endpoint is a trtllm-serve you run, at url (started with return_perf_metrics for its
// metrics).
func Endpoint(url string) *backends.Server { return backends.Endpoint(url, Engine) }

// The engine is known by name to -perf.engine (perftest/engines) wherever this module is
// linked.
func init() {
	engines.Register(Engine.Name, func(url string) engines.Target { return Endpoint(url) })
}

// Spec is the container spec Run starts for c, before options.
func (c Config) Spec() backends.Spec {
	return backends.Spec{
		Backend:  "trtllm",
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
		Files:    c.files(),
		Engine:   Engine,
	}
}

func (c Config) files() map[string][]byte {
	if c.ownOptions() {
		return nil
	}
	return map[string][]byte{optionsPath: []byte(options)}
}

// Request returns the container request Run would send for cfg, with opts applied after the
// module's defaults. It does not contact Docker.
func Request(cfg Config, opts ...testcontainers.ContainerCustomizer) (testcontainers.GenericContainerRequest, error) {
	return cfg.Spec().Build(opts...)
}

// Container is a started trtllm-serve server.
type Container struct {
	*backends.Container
}

// Run starts trtllm-serve and waits until /health answers and /v1/models lists the model.
// On error it returns the partly started container too; errors read "start trtllm: ...".
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

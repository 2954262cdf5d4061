// Package vllm runs the vLLM OpenAI-compatible server (image vllm/vllm-openai) as a
// testcontainers-go module for perf cases.
//
//	srv := vllm.Start(t, vllm.Config{Model: "Qwen/Qwen3-0.6B", MaxNumSeqs: 64})
//	res := perftest.Run(t, perftest.Case{Target: srv, ...})
//
// The container is launched the way vLLM's Docker guide shows (docker run --gpus ...
// -v ~/.cache/huggingface:/root/.cache/huggingface --env HF_TOKEN -p 8000:8000 --ipc=host or
// --shm-size, vllm/vllm-openai M): the arguments follow the image's entrypoint, `vllm serve`
// (checked against the v0.32 image and docs.vllm.ai/en/v0.32.0/cli; --model is still accepted
// there but warns, so the model goes first, positionally),
// with --enable-prompt-tokens-details always on so streamed usage reports cached tokens, and
// VLLM_SERVER_DEV_MODE=1 so that POST /reset_prefix_cache exists: perf cases empty the
// prefix cache before every repetition ([Container.ResetPrefixCache]).
//
// What perftest needs to know of vLLM lives here, in [Engine]: a [Container] and a server
// you already run ([Endpoint]) reset the prefix cache and name vLLM's metrics with it.
//
// Any image whose entrypoint takes vLLM's launch flags works through the same code path,
// such as the perfgate simulator image (see backends/mockcontainer):
//
//	vllm.Start(t, vllm.Config{Image: img, Model: "sim-llama-8b", GPUs: backends.NoGPU})
package vllm

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
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
	// DefaultImage is the vLLM image used when Config.Image is empty.
	DefaultImage = "vllm/vllm-openai:v0.32.0"
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

	// ModelFlag passes the model as --model M instead of first and positionally, for images
	// whose entrypoint is python3 -m vllm.entrypoints.openai.api_server (vLLM's images before
	// the entrypoint became `vllm serve`), which needs --model.
	ModelFlag bool

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

	// Traces makes vLLM export its llm_request span of every request (its own queue,
	// prefill and decode times, continuing the traceparent perftest sends) over OTLP/HTTP
	// to a receiver perftest runs on this machine while a case runs, which joins each span
	// to its request: --otlp-traces-endpoint http://host.docker.internal:PORT/v1/traces,
	// with the container's host.docker.internal mapped to the Docker host
	// (host-gateway), OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=http/protobuf (vLLM exports over
	// gRPC otherwise: vllm/tracing/otel.py) and OTEL_BSP_SCHEDULE_DELAY=500, so that the
	// SDK's batch processor sends spans every half second instead of every five. The image
	// must hold OpenTelemetry's SDK and OTLP exporter (vLLM imports them only when tracing
	// is on; its OpenTelemetry example installs opentelemetry-sdk, -api, -exporter-otlp and
	// -semantic-conventions-ai), or vLLM refuses to start.
	Traces bool
	// TracesPort is the port of that receiver on this machine, which listens on every
	// interface so that the container can reach it; 0 picks a free one.
	TracesPort int
}

// tracesEndpoint is what Traces adds to the launch: the flag's URL and the receiver's
// address, on port.
func tracesEndpoint(port int) (url, addr string) {
	p := strconv.Itoa(port)
	return "http://host.docker.internal:" + p + otlpPath, ":" + p
}

// otlpPath is where OTLP/HTTP exporters post traces.
const otlpPath = "/v1/traces"

// Args returns the vLLM launch flags for c, as passed to the image's entrypoint.
func (c Config) Args() []string {
	args := []string{"--model", cmp.Or(c.Model, DefaultModel)}
	if !c.ModelFlag {
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
	if c.Traces {
		url, _ := tracesEndpoint(c.TracesPort)
		args = append(args, "--otlp-traces-endpoint", url)
	}
	return append(args, c.ExtraArgs...)
}

// Spec is the container spec Run starts for c, before options. With Traces and no
// TracesPort, it picks the receiver's free port.
func (c Config) Spec() backends.Spec {
	if c.Traces && c.TracesPort == 0 {
		c.TracesPort = kit.FreePort()
	}
	env := map[string]string{devModeEnv: "1"}
	engine := Engine
	var hosts []string
	if c.Traces {
		env["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"] = "http/protobuf"
		env["OTEL_BSP_SCHEDULE_DELAY"] = "500"
		_, engine.TracesAddr = tracesEndpoint(c.TracesPort)
		hosts = []string{"host.docker.internal:host-gateway"}
	}
	maps.Copy(env, c.Env)
	return backends.Spec{
		ExtraHosts: hosts,
		Backend:    "vllm",
		Image:      cmp.Or(c.Image, DefaultImage),
		Model:      cmp.Or(c.Model, DefaultModel),
		Cmd:        c.Args(),
		Port:       Port,
		GPUs:       kit.GPUCount(c.GPUs, c.TensorParallelSize),
		ShmSize:    cmp.Or(c.ShmSize, backends.DefaultShmSize),
		CacheDir:   cmp.Or(c.CacheDir, backends.DefaultCacheVolume),
		Env:        env,
		Timeout:    c.StartupTimeout,
		Engine:     engine,
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
	return shell.Run[Container](ctx, cfg.Spec(), cfg.LogDir, opts)
}

// Start is Run for tests: it skips tb without Docker or without the GPUs cfg needs, removes
// the container when the test ends, keeps its log, and fails tb with the exit code and log
// tail if the server exits while the test runs.
func Start(tb testing.TB, cfg Config, opts ...testcontainers.ContainerCustomizer) *Container {
	tb.Helper()
	return shell.Start[Container](tb, cfg.Spec(), cfg.LogDir, opts)
}

// devModeEnv enables vLLM's development routes, /reset_prefix_cache among them.
const devModeEnv = "VLLM_SERVER_DEV_MODE"

// Engine is what perfgate knows of vLLM beyond the OpenAI API:
//
//   - the prefix-cache reset is POST /reset_prefix_cache, served only with
//     VLLM_SERVER_DEV_MODE=1 (vllm/entrypoints/serve/cache/api_router.py, v0.14; inline in
//     api_server.py in older releases). It answers 200 even when vLLM refused to reset
//     because blocks were still in use, so perftest also checks the first request after a
//     reset for cached tokens; a server without the route that can sleep
//     (llm-d-inference-sim) is put to sleep and woken instead, which empties its cache;
//   - the metrics are V1's (vllm/v1/metrics/loggers.py), with the names older releases and
//     llm-d-inference-sim used as alternatives: vllm:gpu_cache_usage_perc before
//     vllm:kv_cache_usage_perc, prefix-cache counters without "_total" (inference-sim
//     v0.8.0 to v0.10.2). Its request_queue_time_seconds, request_prefill_time_seconds,
//     request_decode_time_seconds and request_inference_time_seconds histograms split the
//     server's time per repetition;
//   - per request, vLLM exports an llm_request span when started with
//     --otlp-traces-endpoint (Config.Traces; for a server you run, set TracesAddr on a copy
//     of Engine): kind SERVER, started at the request's arrival (wall clock), continuing
//     the traceparent the request came with, with gen_ai.latency.time_in_queue,
//     time_to_first_token, time_in_model_prefill, time_in_model_decode,
//     time_in_model_inference and e2e in seconds and gen_ai.usage.prompt_tokens and
//     completion_tokens (vllm/tracing SpanAttributes, set in v1/engine/output_processor.py's
//     do_tracing; checked against vLLM's main branch, the attribute names unchanged since
//     v0.6). It puts no timings on the stream.
var Engine = backends.Engine{
	Name: "vllm",
	MetricNames: map[string]string{
		"prefix-hits":    "vllm:prefix_cache_hits_total|vllm:prefix_cache_hits",
		"prefix-queries": "vllm:prefix_cache_queries_total|vllm:prefix_cache_queries",
		"preemptions":    "vllm:num_preemptions_total|vllm:num_preemptions",
		"queue-time":     "vllm:request_queue_time_seconds",
		"prefill-time":   "vllm:request_prefill_time_seconds",
		"decode-time":    "vllm:request_decode_time_seconds",
		"inference-time": "vllm:request_inference_time_seconds",
		"kv-usage":       "vllm:kv_cache_usage_perc|vllm:gpu_cache_usage_perc",
		"waiting":        "vllm:num_requests_waiting",
		// Speculative decoding (v1/spec_decode/metrics.py), exported with a speculative
		// config only.
		"spec-drafts":          "vllm:spec_decode_num_drafts_total|vllm:spec_decode_num_drafts",
		"spec-draft-tokens":    "vllm:spec_decode_num_draft_tokens_total|vllm:spec_decode_num_draft_tokens",
		"spec-accepted-tokens": "vllm:spec_decode_num_accepted_tokens_total|vllm:spec_decode_num_accepted_tokens",
	},
	Reset:   resetPrefixCache,
	Request: request,
}

// resetPrefixCache calls POST /reset_prefix_cache. Releases up to v0.14 answer 200 with an
// empty body whatever happened; later ones {"success": bool}, false when blocks were still
// in use. A server without the route that sleeps is put to sleep and woken instead
// (sleepAndWake).
func resetPrefixCache(ctx context.Context, base string) error {
	body, err := kit.Call(ctx, http.MethodPost, base+"/reset_prefix_cache")
	if errors.Is(err, errors.ErrUnsupported) {
		serr := sleepAndWake(ctx, base)
		if serr == nil || !errors.Is(serr, errors.ErrUnsupported) {
			return serr
		}
		if !errors.Is(serr, errNoSleep) {
			return fmt.Errorf("reset vLLM prefix cache: no /reset_prefix_cache (%w), and %w", err, serr)
		}
	}
	if err != nil {
		return fmt.Errorf("reset vLLM prefix cache (the route needs %s=1): %w", devModeEnv, err)
	}
	var ans struct {
		Success *bool `json:"success"`
	}
	if json.Unmarshal(body, &ans) == nil && ans.Success != nil && !*ans.Success {
		return errors.New("reset vLLM prefix cache: vLLM answered success false (requests still held KV blocks)")
	}
	return nil
}

// errNoSleep is a server without POST /sleep.
var errNoSleep = errors.New("no POST /sleep")

// sleepAndWake empties the KV cache of a server that has no /reset_prefix_cache by putting
// it to sleep and waking it: llm-d-inference-sim (which answers /reset_prefix_cache with
// 404) discards its KV block cache on POST /sleep and wakes with it empty on POST /wake_up
// (pkg/communication/http.go at v0.10.2, pkg/llm-d-inference-sim/server.go on main; run
// at v0.10.2 on 2026-12-02, its hit ratio cold again after each sleep). It sleeps only
// when run with --enable-sleep-mode and VLLM_SERVER_DEV_MODE=1, and otherwise answers
// /sleep with 200 all the same, so GET /is_sleeping tells whether it slept. The error
// wraps errors.ErrUnsupported where the server cannot sleep.
func sleepAndWake(ctx context.Context, base string) error {
	if _, err := kit.Call(ctx, http.MethodPost, base+"/sleep?level=1"); err != nil {
		if errors.Is(err, errors.ErrUnsupported) {
			return fmt.Errorf("%w (%w)", errNoSleep, err)
		}
		return fmt.Errorf("empty the KV cache by sleeping: %w", err)
	}
	asleep, serr := isSleeping(ctx, base)
	// Wake it whatever /is_sleeping said: a server left asleep serves no request.
	if _, err := kit.Call(ctx, http.MethodPost, base+"/wake_up"); err != nil {
		return fmt.Errorf("empty the KV cache by sleeping: the server slept, and waking it failed (it may still be asleep): %w", err)
	}
	switch {
	case serr != nil:
		return fmt.Errorf("empty the KV cache by sleeping: %w", serr)
	case !asleep:
		return fmt.Errorf("POST /sleep answered, but the server did not sleep, so its KV cache was kept "+
			"(llm-d-inference-sim sleeps only with --enable-sleep-mode and %s=1): %w", devModeEnv, errors.ErrUnsupported)
	}
	switch still, err := isSleeping(ctx, base); {
	case err != nil:
		return fmt.Errorf("empty the KV cache by sleeping: after POST /wake_up: %w", err)
	case still:
		return errors.New("empty the KV cache by sleeping: the server is still asleep after POST /wake_up")
	}
	return nil
}

// isSleeping reads GET /is_sleeping ({"is_sleeping": bool}).
func isSleeping(ctx context.Context, base string) (bool, error) {
	body, err := kit.Call(ctx, http.MethodGet, base+"/is_sleeping")
	if err != nil {
		return false, err
	}
	var ans struct {
		Sleeping *bool `json:"is_sleeping"`
	}
	if err := json.Unmarshal(body, &ans); err != nil || ans.Sleeping == nil {
		return false, fmt.Errorf("GET /is_sleeping: %q is not {\"is_sleeping\": bool}", body[:min(len(body), 200)])
	}
	return *ans.Sleeping, nil
}

// Endpoint is a vLLM server you run, at url: a perf case's target that resets its cache
// (when the server runs with VLLM_SERVER_DEV_MODE=1) and reads its metrics.
func Endpoint(url string) *backends.Server { return backends.Endpoint(url, Engine) }

// The engine is known by name to -perf.engine (perftest/engines) wherever this module is
// linked.
func init() {
	engines.Register(Engine.Name, func(url string) engines.Target { return Endpoint(url) })
}

// Package trtllm runs TensorRT-LLM's OpenAI-compatible server (trtllm-serve, image
// nvcr.io/nvidia/tensorrt-llm/release) as a testcontainers-go module for perf cases.
//
//	srv := trtllm.Start(t, trtllm.Config{Model: "TinyLlama/TinyLlama-1.1B-Chat-v1.0"})
//
// The container runs `trtllm-serve MODEL --host 0.0.0.0 --port 8000 --backend pytorch` with
// the options of TensorRT-LLM's quick start guide (--ipc host or shared memory, --ulimit
// memlock=-1 --ulimit stack=67108864, -p 8000:8000).
//
// trtllm-serve rejects request fields its OpenAI protocol models do not declare (pydantic
// extra="forbid", answered with HTTP 400 and {"error": ...}). The fields perftest sends
// (model, prompt, max_tokens, min_tokens, ignore_eos, stream, stream_options, temperature)
// are all declared; a Case.Extra field must be one trtllm-serve knows, else every request
// fails with the server's message.
package trtllm

import (
	"cmp"
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"

	"github.com/perfgate/perfgate/backends"
)

const (
	// DefaultImage is the TensorRT-LLM image used when Config.Image is empty.
	DefaultImage = "nvcr.io/nvidia/tensorrt-llm/release:1.0.0"
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
	return append(cmd, c.ExtraArgs...)
}

// Spec is the container spec Run starts for c, before options.
func (c Config) Spec() backends.Spec {
	return backends.Spec{
		Backend:  "trtllm",
		Image:    cmp.Or(c.Image, DefaultImage),
		Model:    cmp.Or(c.Model, DefaultModel),
		Cmd:      c.Cmd(),
		Port:     Port,
		GPUs:     backends.GPUCount(c.GPUs, c.TensorParallelSize),
		ShmSize:  cmp.Or(c.ShmSize, backends.DefaultShmSize),
		Ulimits:  backends.NVIDIAUlimits(),
		CacheDir: cmp.Or(c.CacheDir, backends.DefaultCacheVolume),
		Env:      c.Env,
		Timeout:  c.StartupTimeout,
	}
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
	c, err := backends.Run(ctx, cfg.Spec(), backends.Options{LogDir: cfg.LogDir}, opts...)
	return wrapContainer(c), err
}

// Start is Run for tests: it skips tb without Docker or GPUs, removes the container when the
// test ends, keeps its log, and fails tb with the exit code and log tail if the server exits
// while the test runs.
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

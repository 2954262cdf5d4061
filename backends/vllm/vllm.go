// Package vllm runs the vLLM OpenAI-compatible server (image vllm/vllm-openai) as a
// testcontainers-go module for perf cases.
//
//	srv := vllm.Start(t, vllm.Config{Model: "Qwen/Qwen3-0.6B", MaxNumSeqs: 64})
//	res := perftest.Run(t, perftest.Case{Target: srv, ...})
//
// The container is launched the way vLLM's Docker guide shows (docker run --gpus ...
// -v ~/.cache/huggingface:/root/.cache/huggingface --env HF_TOKEN -p 8000:8000 --ipc=host or
// --shm-size, vllm/vllm-openai --model M): the arguments follow the image's entrypoint,
// with --enable-prompt-tokens-details always on so streamed usage reports cached tokens.
//
// Any image whose entrypoint takes vLLM's launch flags works through the same code path,
// such as the perfgate simulator image (see backends/mockcontainer):
//
//	vllm.Start(t, vllm.Config{Image: img, Model: "sim-llama-8b", GPUs: backends.NoGPU})
package vllm

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

func (c Config) spec() backends.Spec {
	return backends.Spec{
		Backend:  "vllm",
		Image:    cmp.Or(c.Image, DefaultImage),
		Model:    cmp.Or(c.Model, DefaultModel),
		Cmd:      c.Args(),
		Port:     Port,
		GPUs:     backends.GPUCount(c.GPUs, c.TensorParallelSize),
		ShmSize:  cmp.Or(c.ShmSize, backends.DefaultShmSize),
		CacheDir: cmp.Or(c.CacheDir, backends.DefaultCacheVolume),
		Env:      c.Env,
		Timeout:  c.StartupTimeout,
	}
}

// Request returns the container request Run would send for cfg, with opts applied after the
// module's defaults. It does not contact Docker.
func Request(cfg Config, opts ...testcontainers.ContainerCustomizer) (testcontainers.GenericContainerRequest, error) {
	return cfg.spec().Build(opts...)
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
	c, err := backends.RunSpec(ctx, cfg.spec(), backends.Options{LogDir: cfg.LogDir}, opts...)
	return wrapContainer(c), err
}

// Start is Run for tests: it skips tb without Docker or without the GPUs cfg needs, removes
// the container when the test ends, keeps its log, and fails tb with the exit code and log
// tail if the server exits while the test runs.
func Start(tb testing.TB, cfg Config, opts ...testcontainers.ContainerCustomizer) *Container {
	tb.Helper()
	return wrapContainer(backends.StartSpec(tb, cfg.spec(), backends.Options{LogDir: cfg.LogDir}, opts...))
}

func wrapContainer(c *backends.Container) *Container {
	if c == nil {
		return nil
	}
	return &Container{c}
}

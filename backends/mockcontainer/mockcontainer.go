// Package mockcontainer runs the perfgate simulator (`perfgate mock`) as a container image
// built locally from this module: a static perfgate binary in a FROM scratch image. It needs
// Docker but no GPU and no registry, so a perf case can exercise the whole container path
// (image, start, readiness, logs, teardown) on any CI runner.
//
//	srv := mockcontainer.Start(t, mockcontainer.Config{MaxNumSeqs: 16})
//	res := perftest.Run(t, perftest.Case{Target: srv, ...})
//
// The image's entrypoint is `perfgate mock`, which takes vLLM's launch flags; the container
// is started with the same flags the vllm module passes to vllm/vllm-openai (see
// vllm.Config.Args), and the vllm module can drive the image itself:
//
//	img := mockcontainer.BuildImage(t)
//	srv := vllm.Start(t, vllm.Config{Image: img, Model: "sim-llama-8b", GPUs: backends.NoGPU, CacheDir: backends.NoCache})
//
// The image is built once per content: the binary and Dockerfile are hashed into the tag
// (perfgate/mock:<hash>), and an image with that tag is reused without building; building
// needs the go command. Describe names the image by repository only ("image":
// "perfgate/mock", with "backend": "mock", the model and "gpus": "0"), so results recorded
// before and after a code change share their config lines and compare against the same
// baseline.
package mockcontainer

import (
	"cmp"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"

	"github.com/perfgate/perfgate/backends"
	"github.com/perfgate/perfgate/backends/internal/kit"
	"github.com/perfgate/perfgate/backends/internal/shell"
	"github.com/perfgate/perfgate/backends/vllm"
)

//go:embed Dockerfile
var dockerfile []byte

const (
	// Repo is the repository of the built simulator images; tags are content hashes.
	Repo = "perfgate/mock"
	// DefaultModel is the served model name when Config.Model is empty.
	DefaultModel = "sim-llama-8b"
	// Package is the Go package built into the image.
	Package = "github.com/perfgate/perfgate/cmd/perfgate"
	// Port is the container port the simulator listens on.
	Port = vllm.Port
)

// Config describes a simulator container. The zero value builds the image from this module
// and serves DefaultModel with the simulator's defaults.
type Config struct {
	// Image is a simulator image to run; BuildImage's result when empty.
	Image string
	// Model is --model; DefaultModel when empty.
	Model string
	// MaxNumSeqs is --max-num-seqs; the simulator's default when 0.
	MaxNumSeqs int
	// NoPrefixCaching passes --no-enable-prefix-caching.
	NoPrefixCaching bool
	// ReasoningParser, ToolCallParser, SpeculativeConfig (JSON), LimitMMPerPrompt (JSON)
	// and Runner pass vLLM's flags of those names (ToolCallParser with
	// --enable-auto-tool-choice): a reasoning model, tool calling, speculative decoding, an
	// image limit, a pooling model. mock.Config says what the simulator does with them.
	ReasoningParser, ToolCallParser, SpeculativeConfig, LimitMMPerPrompt, Runner string
	// Args are more `perfgate mock` flags (vLLM's or the simulator's own), e.g.
	// "--block-size", "16", "--reasoning-slowdown", "1.2"; they come last, so they win.
	Args []string
	// StartupTimeout bounds startup; 2 minutes when 0 (the simulator starts in milliseconds).
	StartupTimeout time.Duration
	// LogDir receives the container log; Start uses t.ArtifactDir() when empty.
	LogDir string
}

// vllmConfig is the vLLM configuration the simulator is launched with: the same flags as a
// real vLLM server, no GPU and no model cache.
func (c Config) vllmConfig(image string) vllm.Config {
	return vllm.Config{
		Image:           image,
		Model:           cmp.Or(c.Model, DefaultModel),
		MaxNumSeqs:      c.MaxNumSeqs,
		NoPrefixCaching: c.NoPrefixCaching,
		ExtraArgs:       append(c.featureArgs(), c.Args...),
		GPUs:            backends.NoGPU,
		CacheDir:        backends.NoCache,
		ShmSize:         -1,
		StartupTimeout:  cmp.Or(c.StartupTimeout, 2*time.Minute),
		LogDir:          c.LogDir,
	}
}

// featureArgs are the vLLM flags of the Config's feature fields.
func (c Config) featureArgs() []string {
	var args []string
	for _, f := range []struct{ flag, v string }{
		{"--reasoning-parser", c.ReasoningParser}, {"--tool-call-parser", c.ToolCallParser},
		{"--speculative-config", c.SpeculativeConfig}, {"--limit-mm-per-prompt", c.LimitMMPerPrompt}, {"--runner", c.Runner},
	} {
		if f.v == "" {
			continue
		}
		if f.flag == "--tool-call-parser" {
			args = append(args, "--enable-auto-tool-choice")
		}
		args = append(args, f.flag, f.v)
	}
	return args
}

// Request returns the container request Run would send for cfg, with opts applied after the
// module's defaults. cfg.Image must be set (to BuildImage's result); Request builds nothing.
func Request(cfg Config, opts ...testcontainers.ContainerCustomizer) (testcontainers.GenericContainerRequest, error) {
	if cfg.Image == "" {
		return testcontainers.GenericContainerRequest{}, errors.New("mockcontainer.Request: Config.Image is empty (use BuildImage)")
	}
	return cfg.spec(cfg.Image).Build(opts...)
}

// spec is the vLLM module's spec for the simulator, named "mock" and described by the
// image's repository, not its content tag, so results recorded before and after a code
// change compare.
func (c Config) spec(image string) backends.Spec {
	s := c.vllmConfig(image).Spec()
	s.Backend = "mock"
	s.Describe = kit.Identity("mock", cmp.Or(c.Model, DefaultModel), Repo, 0)
	return s
}

// Container is a started simulator. It serves vLLM's routes and metrics, so it resets and
// reads them as vLLM's do.
type Container struct {
	*vllm.Container
}

// Run builds the image when cfg.Image is empty, starts the simulator and waits until it
// serves. On error it returns the partly started container too.
func Run(ctx context.Context, cfg Config, opts ...testcontainers.ContainerCustomizer) (*Container, error) {
	if cfg.Image == "" {
		img, err := Build(ctx)
		if err != nil {
			return nil, fmt.Errorf("start mock: %w", err)
		}
		cfg.Image = img
	}
	c, err := shell.Run[vllm.Container](ctx, cfg.spec(cfg.Image), cfg.LogDir, opts)
	if c == nil {
		return nil, err
	}
	return &Container{c}, err
}

// Start is Run for tests: it skips tb without Docker, builds the image once per process,
// removes the container when the test ends, keeps its log, and fails tb with the exit code
// and log tail if the simulator exits while the test runs.
func Start(tb testing.TB, cfg Config, opts ...testcontainers.ContainerCustomizer) *Container {
	tb.Helper()
	backends.SkipIfNoDocker(tb)
	if cfg.Image == "" {
		cfg.Image = BuildImage(tb)
	}
	return &Container{shell.Start[vllm.Container](tb, cfg.spec(cfg.Image), cfg.LogDir, opts)}
}

// BuildImage is Build for tests: it skips tb without Docker and fails it when the build
// fails. The image is built once per process and content; it is kept after the test so the
// next run reuses it.
func BuildImage(tb testing.TB) string {
	tb.Helper()
	backends.SkipIfNoDocker(tb)
	img, err := Build(tb.Context())
	if err != nil {
		tb.Fatal(err)
	}
	return img
}

var (
	buildMu sync.Mutex
	built   string
)

// Build compiles Package as a static Linux binary for the Docker engine's architecture and
// builds the simulator image from it and the embedded Dockerfile with testcontainers-go
// (FromDockerfile with an in-memory build context), unless an image with the same content
// tag exists. It returns the image reference. Later calls in
// the process return the first result.
func Build(ctx context.Context) (string, error) {
	buildMu.Lock()
	defer buildMu.Unlock()
	if built != "" {
		return built, nil
	}
	img, err := kit.BuildGoImage(ctx, Package, Repo, dockerfile)
	if err != nil {
		return "", fmt.Errorf("build simulator image: %w", err)
	}
	built = img
	return img, nil
}

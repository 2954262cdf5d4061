// Package shell is the body every container module of backends shares, so that a module
// (vllm, sglang, trtllm, mockcontainer) is only what makes it that engine: a Config that
// becomes a backends.Spec, and a Container type that embeds *backends.Container. Its Run
// and Start are these functions over them:
//
//	func Run(ctx context.Context, cfg Config, opts ...testcontainers.ContainerCustomizer) (*Container, error) {
//		return shell.Run[Container](ctx, cfg.Spec(), cfg.LogDir, opts)
//	}
//
// Options come after the module's defaults, so the user's win. Modules that start several
// containers (dynamo) use backends.Run and kit.Track directly.
package shell

import (
	"context"
	"testing"

	"github.com/testcontainers/testcontainers-go"

	"github.com/perfgate/perfgate/backends"
)

// Container is the shape of a module's Container type: a struct that embeds
// *backends.Container and nothing else.
type Container interface {
	~struct{ *backends.Container }
}

// Run is backends.Run of s with the container log kept in logDir ("": none), wrapped in
// the module's Container type. On error it returns the partly started container too
// (nil when nothing was created), so the caller can terminate it.
func Run[T Container](ctx context.Context, s backends.Spec, logDir string, opts []testcontainers.ContainerCustomizer) (*T, error) {
	c, err := backends.Run(ctx, s, backends.Options{LogDir: logDir}, opts...)
	return wrap[T](c), err
}

// Start is backends.Start of s with the container log kept in logDir (tb.ArtifactDir()
// when empty), wrapped in the module's Container type.
func Start[T Container](tb testing.TB, s backends.Spec, logDir string, opts []testcontainers.ContainerCustomizer) *T {
	tb.Helper()
	return wrap[T](backends.Start(tb, s, backends.Options{LogDir: logDir}, opts...))
}

func wrap[T Container](c *backends.Container) *T {
	if c == nil {
		return nil
	}
	return &T{c}
}

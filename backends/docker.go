package backends

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/testcontainers/testcontainers-go"

	"github.com/perfgate/perfgate/backends/internal/kit"
)

var (
	// ErrNoDocker is wrapped by errors from Run when no Docker engine answers.
	ErrNoDocker = errors.New("docker is not available")
	// ErrNoGPU is wrapped by errors from Run when GPUs are needed and the Docker engine
	// reports no nvidia runtime.
	ErrNoGPU = errors.New("docker engine has no nvidia runtime")
)

var (
	staleOnce sync.Once
	envOnce   sync.Once
)

// SkipIfNoDocker skips tb when no Docker engine answers. It is
// testcontainers.SkipIfProviderIsNotHealthy for a testing.TB. The first call in a process
// also defaults testcontainers' environment for an engine without a registry (see the
// package doc).
func SkipIfNoDocker(tb testing.TB) {
	tb.Helper()
	envOnce.Do(func() { kit.SetTestEnv(tb.Context()) })
	if err := dockerHealth(tb.Context()); err != nil {
		tb.Skipf("skipping: %v: %v", ErrNoDocker, err)
	}
}

func dockerHealth(ctx context.Context) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("docker client panicked: %v", r)
		}
	}()
	p, err := testcontainers.NewDockerProvider()
	if err != nil {
		return err
	}
	defer p.Close()
	return p.Health(ctx)
}

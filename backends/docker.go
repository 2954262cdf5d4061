package backends

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
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
// also runs [SetTestEnv].
func SkipIfNoDocker(tb testing.TB) {
	tb.Helper()
	envOnce.Do(func() { SetTestEnv(tb.Context()) })
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

// NvidiaRuntime reports whether the Docker engine lists an nvidia runtime, which GPU device
// requests need.
func NvidiaRuntime(ctx context.Context) (bool, error) {
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return false, err
	}
	defer cli.Close()
	info, err := cli.Info(ctx, client.InfoOptions{})
	if err != nil {
		return false, err
	}
	_, ok := info.Info.Runtimes["nvidia"]
	return ok, nil
}

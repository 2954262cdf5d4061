package backends

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"

	"github.com/perfgate/perfgate/backends/internal/kit"
)

// Options are the run-time settings of [Run] and [Start] that are not part of a request.
type Options struct {
	// LogDir receives the container log when the container is removed (Start uses
	// tb.ArtifactDir() when empty; Run writes no log file when empty).
	LogDir string
	// TailLines is how many log lines error messages and failure reports quote (default 30).
	TailLines int
}

// Run creates and starts the container s describes, with opts applied after the module's
// defaults (so user options win), and waits until it is ready. When the container asks for
// GPUs and the Docker engine has no nvidia runtime, Run fails with an error wrapping
// [ErrNoGPU] without creating anything. On any later error Run returns the partly started
// container with the error, so the caller can still terminate it. Errors read
// "start <backend>: ...".
func Run(ctx context.Context, s Spec, o Options, opts ...testcontainers.ContainerCustomizer) (*Container, error) {
	req, ident, err := s.build(opts)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", s.Backend, err)
	}
	c, err := run(ctx, s.Backend, req, ident, o)
	if c != nil {
		c.engine = s.Engine
	}
	return c, err
}

// run starts a built request; backend names the engine in errors, ident is the Describe map.
func run(ctx context.Context, backend string, req testcontainers.GenericContainerRequest, ident map[string]string, o Options) (*Container, error) {
	if gpus := len(kit.HostConfig(req).DeviceRequests); gpus > 0 {
		ok, err := kit.NvidiaRuntime(ctx)
		if err != nil {
			return nil, fmt.Errorf("start %s: %w: %w", backend, ErrNoDocker, err)
		}
		if !ok {
			return nil, fmt.Errorf("start %s: %w", backend, ErrNoGPU)
		}
	}
	port := exposedPort(req)
	c := &Container{
		backend: backend,
		ident:   maps.Clone(ident),
		port:    port,
		logDir:  o.LogDir,
		tail:    cmp.Or(o.TailLines, 30),
		secret:  req.Env[hfTokenEnv],
	}
	if c.secret != "" {
		req.Logger = redactLogger{inner: cmp.Or[tclog.Logger](req.Logger, tclog.Default()), secret: c.secret}
	}
	ctr, err := testcontainers.GenericContainer(ctx, req)
	if ctr != nil {
		c.Container = ctr
	}
	if err != nil {
		if ctr == nil {
			return nil, c.startError(err, "")
		}
		return c, c.startError(err, c.tailSection(ctx))
	}
	ep, err := ctr.PortEndpoint(ctx, port, "http")
	if err != nil {
		return c, fmt.Errorf("start %s: endpoint: %w", backend, err)
	}
	c.baseURL = ep
	return c, nil
}

// Start is [Run] for tests: it skips tb when no Docker engine answers or the request needs
// GPUs the engine does not have, registers the container's removal with tb.Cleanup before
// checking for errors (and removes it shortly before the test binary's -timeout, when
// tb.Cleanup would not run), writes the container log to o.LogDir or tb.ArtifactDir() when
// the test ends, prints the log tail when the test failed, and fails the test (from a
// watcher) as soon as the container exits while the test runs.
func Start(tb testing.TB, s Spec, o Options, opts ...testcontainers.ContainerCustomizer) *Container {
	tb.Helper()
	SkipIfNoDocker(tb)
	staleOnce.Do(func() { _, _ = kit.RemoveStale(tb.Context()) })
	req, ident, err := s.build(opts)
	if err != nil {
		tb.Fatalf("start %s: %v", s.Backend, err)
	}
	if req.Logger == nil {
		req.Logger = tclog.TestLogger(tb)
	}
	ctx, cancel := kit.StartContext(tb)
	defer cancel()
	c, err := run(ctx, s.Backend, req, ident, o)
	if c != nil {
		c.engine = s.Engine
	}
	track(tb, c)
	if errors.Is(err, ErrNoGPU) {
		tb.Skipf("skipping %s: %v", s.Backend, err)
	}
	if err != nil {
		tb.Fatal(err)
	}
	c.Watch(tb)
	return c
}

// The engine modules that start containers off the test goroutine track them with kit.Track.
func init() {
	kit.Track = func(tb testing.TB, c testcontainers.Container) {
		tb.Helper()
		ctr, ok := c.(*Container)
		if !ok && c != nil {
			panic(fmt.Sprintf("kit.Track: %T is not a *backends.Container", c))
		}
		track(tb, ctr)
	}
}

// track ties c to tb: it registers the container's removal with tb.Cleanup (through
// testcontainers.CleanupContainer, so call it before checking Run's error), and before
// that removal stops the watcher, writes the log to the log directory (tb.ArtifactDir()
// when Options.LogDir was empty) and prints the log tail if tb failed. c may be nil.
//
// track also guards against the test binary's -timeout: tb.Cleanup does not run when the
// binary panics on its deadline, so shortly before that deadline track removes the
// container itself (there is no reaper where its image cannot be pulled).
func track(tb testing.TB, c *Container) {
	tb.Helper()
	testcontainers.CleanupContainer(tb, c)
	if c == nil {
		return
	}
	if d, ok := kit.GuardDeadline(tb); ok {
		timer := time.AfterFunc(time.Until(d), func() {
			fmt.Fprintf(os.Stderr, "backends: test binary deadline near: removing %s container %s\n", c.backend, c.shortID())
			_ = testcontainers.TerminateContainer(c, testcontainers.StopTimeout(0))
		})
		tb.Cleanup(func() { timer.Stop() })
	}
	// The log directory is resolved now, not in the cleanup: tb.ArtifactDir registers its own
	// removal when first called, and a removal registered during the cleanups would run
	// before the other containers' logs are written, which would then re-create the
	// directory and leave it behind (a deployment of several containers did).
	dir := c.logDir
	if dir == "" {
		dir = tb.ArtifactDir()
	}
	tb.Cleanup(func() { c.finish(tb, dir) })
}

func exposedPort(req testcontainers.GenericContainerRequest) string {
	if w, ok := req.WaitingFor.(*kit.Ready); ok && w.Port != "" {
		return w.Port
	}
	if len(req.ExposedPorts) > 0 {
		return req.ExposedPorts[0]
	}
	return ""
}

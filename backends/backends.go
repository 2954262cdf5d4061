// Package backends starts LLM serving engines as containers for perf cases and gives every
// engine module the same contract.
//
// Each engine has its own testcontainers-go module in a subpackage: backends/vllm,
// backends/sglang, backends/trtllm, backends/dynamo, and backends/mockcontainer (the perfgate
// simulator as a container image built from this repository). Every module has the same shape:
//
//	req, err := vllm.Request(cfg)          // the exact testcontainers request, not started
//	ctr, err := vllm.Run(ctx, cfg, opts...) // started and ready, or an error saying why
//	ctr := vllm.Start(tb, cfg, opts...)     // for tests: skips without Docker or GPU, cleans up
//
// A started backend is a [*Container]. It satisfies perftest.Target (BaseURL) and
// perftest.Describer (Describe) structurally, so it can be passed to perftest.Run directly.
//
// # Readiness and failure
//
// A container is ready when GET /health answers 200 and GET /v1/models lists the served
// model ([Ready]); model loading takes minutes, so the default startup timeout is
// [DefaultStartupTimeout]. If the container exits while starting, the error carries its exit
// code and the last lines of its log. Once started, a watcher notices when the container
// exits under a running test and reports the exit code and log tail instead of leaving the
// test to fail with a wall of connection errors; [Container.Check] gives a runner the same
// diagnosis on demand.
//
// # Logs and secrets
//
// When the test ends, the container log is written to [Options.LogDir] or the test's
// artifact directory, t.ArtifactDir() (kept under -outputdir when go test runs with
// -artifacts, a temporary directory otherwise), and its tail is printed when the test
// failed. HF_TOKEN is passed from the environment to the container; its value is redacted
// from every log file, log tail and error message this package and testcontainers' logger
// produce, and it never appears in Describe.
//
// # Docker without a registry
//
// testcontainers-go starts a reaper container (Ryuk) unless TESTCONTAINERS_RYUK_DISABLED=true,
// and from inside a container it reaches published ports through the default gateway unless
// TESTCONTAINERS_HOST_OVERRIDE is set. On a machine whose Docker engine has no registry and
// runs in the same network namespace, CI must export
//
//	TESTCONTAINERS_RYUK_DISABLED=true
//	TESTCONTAINERS_HOST_OVERRIDE=localhost
//
// [SetTestEnv] fills both in where they are unset and it can tell they are needed; Start
// calls it before its first use of testcontainers. Without the reaper, cleanup relies on
// tb.Cleanup (which runs when a test fails or panics), on a guard that removes containers
// shortly before the test binary's -timeout, and on [RemoveStale], which removes containers
// of processes that died anyway. [Leftovers] lists containers this process created and has
// not removed, so a TestMain can prove that none remain.
package backends

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
)

const (
	// DefaultStartupTimeout bounds how long a backend may take to become ready. It is long
	// because the first start downloads and loads model weights.
	DefaultStartupTimeout = 30 * time.Minute
	// DefaultShmSize is the shared memory given to engine containers; PyTorch uses shared
	// memory between tensor-parallel workers (vLLM docs: use --ipc=host or --shm-size).
	DefaultShmSize = 8 << 30
	// DefaultCacheVolume is the Docker volume that keeps downloaded model weights between
	// runs, mounted at [HFCachePath].
	DefaultCacheVolume = "perfgate-hf-cache"
	// HFCachePath is the Hugging Face cache directory inside the engine images.
	HFCachePath = "/root/.cache/huggingface"
	// NoGPU as a module's Config.GPUs asks for no GPU at all, for images that run on a CPU
	// (such as the simulator image driven through the vllm module).
	NoGPU = -1
	// NoCache as a module's Config.CacheDir mounts no model cache.
	NoCache = "-"

	// LabelBackend is set on every container this package starts; its value is the backend.
	LabelBackend = "org.perfgate.backend"
	// LabelSession marks containers started by this process (see [SessionID]).
	LabelSession = "org.perfgate.session"

	hfTokenEnv = "HF_TOKEN"
	redacted   = "[redacted]"
)

var (
	// ErrNoDocker is wrapped by errors from Run when no Docker engine answers.
	ErrNoDocker = errors.New("docker is not available")
	// ErrNoGPU is wrapped by errors from Run when GPUs are needed and the Docker engine
	// reports no nvidia runtime.
	ErrNoGPU = errors.New("docker engine has no nvidia runtime")
)

// SessionID identifies this process's containers through the [LabelSession] label:
// "<pid>-<random>@<hostname>", so [RemoveStale] can tell the containers of processes that
// died on this machine.
var SessionID = newSessionID()

func newSessionID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	host, _ := os.Hostname()
	return strconv.Itoa(os.Getpid()) + "-" + hex.EncodeToString(b[:]) + "@" + host
}

// Spec is the engine-independent part of a backend container: what a module hands to
// [Spec.Request] after turning its Config into an image, a command line and a port.
type Spec struct {
	Backend    string             // engine name, e.g. "vllm"; also the Describe "backend" value
	Image      string             // image reference
	Model      string             // served model name, as /v1/models lists it
	Entrypoint []string           // replaces the image's entrypoint when set
	Cmd        []string           // command (or arguments to the entrypoint)
	Port       string             // container port of the OpenAI server, e.g. "8000/tcp"
	GPUs       int                // GPUs to attach with an nvidia device request; 0 for none
	DeviceIDs  []string           // which GPUs, by index or UUID; overrides GPUs when set
	ShmSize    int64              // /dev/shm size in bytes; 0 for Docker's default
	Ulimits    []container.Ulimit // ulimits, e.g. memlock=-1 as NVIDIA's images recommend
	CacheDir   string             // host dir (absolute) or volume name for HFCachePath; "" for none
	Env        map[string]string  // environment; HF_TOKEN is added from the process environment
	Timeout    time.Duration      // startup timeout; 0 means DefaultStartupTimeout
	Networks   []string           // networks to join
	Aliases    []string           // aliases on those networks
	Name       string             // container name; "" lets Docker choose
}

// Request builds the testcontainers request for s: image, entrypoint, command, environment,
// exposed port, labels, shared memory, model cache mount, GPU device request and the
// [Ready] wait strategy. It contacts no Docker engine.
func (s Spec) Request() (testcontainers.GenericContainerRequest, error) {
	var errs []error
	if s.Backend == "" {
		errs = append(errs, errors.New("backend name is empty"))
	}
	if s.Image == "" {
		errs = append(errs, errors.New("image is empty"))
	}
	if s.Model == "" {
		errs = append(errs, errors.New("model is empty"))
	}
	if s.Port == "" {
		errs = append(errs, errors.New("port is empty"))
	}
	if s.GPUs < 0 {
		errs = append(errs, fmt.Errorf("gpus is %d, want >= 0", s.GPUs))
	}
	if err := errors.Join(errs...); err != nil {
		return testcontainers.GenericContainerRequest{}, err
	}
	env := maps.Clone(s.Env)
	if tok := os.Getenv(hfTokenEnv); tok != "" {
		if env == nil {
			env = map[string]string{}
		}
		env[hfTokenEnv] = tok
	}
	var aliases map[string][]string
	if len(s.Aliases) > 0 {
		aliases = map[string][]string{}
		for _, n := range s.Networks {
			aliases[n] = s.Aliases
		}
	}
	hc := hostConfig{ShmSize: s.ShmSize, GPUs: s.GPUs, DeviceIDs: s.DeviceIDs, Ulimits: s.Ulimits}
	switch {
	case s.CacheDir == "" || s.CacheDir == NoCache:
	case filepath.IsAbs(s.CacheDir):
		hc.Mounts = []mount.Mount{{Type: mount.TypeBind, Source: s.CacheDir, Target: HFCachePath}}
	default:
		hc.Mounts = []mount.Mount{{Type: mount.TypeVolume, Source: s.CacheDir, Target: HFCachePath}}
	}
	return testcontainers.GenericContainerRequest{
		ContainerRequest: testcontainers.ContainerRequest{
			Image:              s.Image,
			Entrypoint:         s.Entrypoint,
			Cmd:                s.Cmd,
			Env:                env,
			ExposedPorts:       []string{s.Port},
			Labels:             map[string]string{LabelBackend: s.Backend, LabelSession: SessionID},
			Name:               s.Name,
			Networks:           s.Networks,
			NetworkAliases:     aliases,
			HostConfigModifier: hc.apply,
			WaitingFor: &Ready{
				Port:           s.Port,
				Model:          s.Model,
				StartupTimeout: cmp.Or(s.Timeout, DefaultStartupTimeout),
			},
		},
		Started: true,
	}, nil
}

// hostConfig is the part of the Docker host configuration a Spec sets.
type hostConfig struct {
	ShmSize   int64
	GPUs      int
	DeviceIDs []string
	Mounts    []mount.Mount
	Ulimits   []container.Ulimit
}

func (h hostConfig) apply(hc *container.HostConfig) {
	if h.ShmSize > 0 {
		hc.ShmSize = h.ShmSize
	}
	hc.Mounts = append(hc.Mounts, h.Mounts...)
	for _, u := range h.Ulimits {
		hc.Ulimits = append(hc.Ulimits, &u)
	}
	switch {
	case len(h.DeviceIDs) > 0:
		hc.DeviceRequests = append(hc.DeviceRequests, container.DeviceRequest{
			Driver:       "nvidia",
			DeviceIDs:    h.DeviceIDs,
			Capabilities: [][]string{{"gpu"}},
		})
	case h.GPUs > 0:
		hc.DeviceRequests = append(hc.DeviceRequests, container.DeviceRequest{
			Driver:       "nvidia",
			Count:        h.GPUs,
			Capabilities: [][]string{{"gpu"}},
		})
	}
}

// HostConfig applies req's HostConfigModifier to an empty host configuration and returns
// the result: the shared memory, mounts and device requests a request asks for. Tests use it
// to compare requests, whose modifier is a function.
func HostConfig(req testcontainers.GenericContainerRequest) container.HostConfig {
	var hc container.HostConfig
	if req.HostConfigModifier != nil {
		req.HostConfigModifier(&hc)
	}
	return hc
}

// Identity is the Describe map of a backend: the keys that identify the system under test.
// Values have spaces replaced, as benchmark config values cannot hold them.
func Identity(backend, model, image string, gpus int) map[string]string {
	clean := func(s string) string { return strings.Join(strings.Fields(s), "_") }
	return map[string]string{
		"backend": clean(backend),
		"model":   clean(model),
		"image":   clean(image),
		"gpus":    strconv.Itoa(max(gpus, 0)),
	}
}

// Options are the run-time settings of [Run] and [Start] that are not part of a request.
type Options struct {
	// LogDir receives the container log when the container is removed (Start uses
	// tb.ArtifactDir() when empty; Run writes no log file when empty).
	LogDir string
	// TailLines is how many log lines error messages and failure reports quote (default 30).
	TailLines int
}

// Run creates and starts the container req describes and waits until it is ready. backend
// names the engine in errors; ident is the Describe map. When the request asks for GPUs and
// the Docker engine has no nvidia runtime, Run fails with an error wrapping [ErrNoGPU]
// without creating anything. On any later error Run returns the partly started container
// with the error, so the caller can still terminate it.
func Run(ctx context.Context, backend string, req testcontainers.GenericContainerRequest, ident map[string]string, o Options) (*Container, error) {
	if gpus := len(HostConfig(req).DeviceRequests); gpus > 0 {
		ok, err := NvidiaRuntime(ctx)
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
// checking for errors, writes the container log to o.LogDir or tb.ArtifactDir() when the
// test ends, prints the log tail when the test failed, and fails the test (from a watcher)
// as soon as the container exits while the test runs.
func Start(tb testing.TB, backend string, req testcontainers.GenericContainerRequest, ident map[string]string, o Options) *Container {
	tb.Helper()
	SkipIfNoDocker(tb)
	staleOnce.Do(func() { _, _ = RemoveStale(tb.Context()) })
	if req.Logger == nil {
		req.Logger = tclog.TestLogger(tb)
	}
	ctx, cancel := StartContext(tb)
	defer cancel()
	c, err := Run(ctx, backend, req, ident, o)
	Track(tb, c)
	if errors.Is(err, ErrNoGPU) {
		tb.Skipf("skipping %s: %v", backend, err)
	}
	if err != nil {
		tb.Fatal(err)
	}
	c.Watch(tb)
	return c
}

// Track ties c to tb: it registers the container's removal with tb.Cleanup (through
// testcontainers.CleanupContainer, so call it before checking Run's error), and before
// that removal stops the watcher, writes the log to the log directory (tb.ArtifactDir()
// when Options.LogDir was empty) and prints the log tail if tb failed. c may be nil.
//
// Track also guards against the test binary's -timeout: tb.Cleanup does not run when the
// binary panics on its deadline, so shortly before that deadline Track removes the
// container itself (there is no reaper where its image cannot be pulled).
func Track(tb testing.TB, c *Container) {
	tb.Helper()
	testcontainers.CleanupContainer(tb, c)
	if c == nil {
		return
	}
	if d, ok := guardDeadline(tb); ok {
		timer := time.AfterFunc(time.Until(d), func() {
			fmt.Fprintf(os.Stderr, "backends: test binary deadline near: removing %s container %s\n", c.backend, c.shortID())
			_ = testcontainers.TerminateContainer(c, testcontainers.StopTimeout(0))
		})
		tb.Cleanup(func() { timer.Stop() })
	}
	tb.Cleanup(func() { c.finish(tb) })
}

// StartContext returns the context Start uses to start containers: tb.Context(), ending
// when tb's -timeout guard fires so a slow start fails with its own error and log tail
// before the test binary panics.
func StartContext(tb testing.TB) (context.Context, context.CancelFunc) {
	if d, ok := guardDeadline(tb); ok {
		return context.WithDeadline(tb.Context(), d)
	}
	return context.WithCancel(tb.Context())
}

// guardDeadline is when Track removes containers: a margin before the test binary's
// deadline (go test -timeout), or false when there is none.
func guardDeadline(tb testing.TB) (time.Time, bool) {
	dl, ok := tb.(interface{ Deadline() (time.Time, bool) })
	if !ok {
		return time.Time{}, false
	}
	d, ok := dl.Deadline()
	if !ok {
		return time.Time{}, false
	}
	margin := min(10*time.Second, max(2*time.Second, time.Until(d)/10))
	return d.Add(-margin), true
}

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

// Leftovers returns the IDs and names of containers that this process started through this
// package and that still exist. A TestMain can call it after m.Run to prove that cleanup
// removed everything.
func Leftovers(ctx context.Context) ([]string, error) {
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	res, err := cli.ContainerList(ctx, client.ContainerListOptions{
		All:     true,
		Filters: client.Filters{}.Add("label", LabelSession+"="+SessionID),
	})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, s := range res.Items {
		out = append(out, s.ID[:min(12, len(s.ID))]+" "+strings.Join(s.Names, ","))
	}
	return out, nil
}

// RemoveStale removes containers that a process on this machine started through this
// package and left behind when it died without cleanup (killed, or crashed off the test
// goroutine), and returns their IDs. Containers of live processes and of other machines
// are left alone. Start calls it once per process; SetTestEnv calls it too.
func RemoveStale(ctx context.Context) ([]string, error) {
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	res, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: client.Filters{}.Add("label", LabelSession)})
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	var removed []string
	var errs []error
	for _, ctr := range res.Items {
		pid, h, ok := parseSession(ctr.Labels[LabelSession])
		if !ok || h != host || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		if _, err := cli.ContainerRemove(ctx, ctr.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, ctr.ID[:min(12, len(ctr.ID))])
	}
	return removed, errors.Join(errs...)
}

func parseSession(s string) (pid int, host string, ok bool) {
	id, host, ok := strings.Cut(s, "@")
	if !ok {
		return 0, "", false
	}
	p, _, ok := strings.Cut(id, "-")
	if !ok {
		return 0, "", false
	}
	pid, err := strconv.Atoi(p)
	return pid, host, err == nil && pid > 0
}

func processAlive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	err = p.Signal(syscall.Signal(0))
	return err == nil || errors.Is(err, syscall.EPERM)
}

var (
	staleOnce sync.Once
	envOnce   sync.Once
)

func exposedPort(req testcontainers.GenericContainerRequest) string {
	if w, ok := req.WaitingFor.(*Ready); ok && w.Port != "" {
		return w.Port
	}
	if len(req.ExposedPorts) > 0 {
		return req.ExposedPorts[0]
	}
	return ""
}

// Container is a started backend. It embeds the testcontainers container (Terminate, Logs,
// Exec, ...) and adds what a perf case needs.
type Container struct {
	testcontainers.Container

	backend string
	ident   map[string]string
	port    string
	baseURL string
	logDir  string
	tail    int
	secret  string

	mu      sync.Mutex
	stop    chan struct{} // closed to stop the watcher
	stopped chan struct{} // closed when the watcher returned
	exitErr error         // set by the watcher when the container exited under the test
	logFile string
}

// BaseURL is the server's root, e.g. "http://localhost:32768", without "/v1".
func (c *Container) BaseURL() string { return c.baseURL }

// MetricsURL is the server's Prometheus endpoint.
func (c *Container) MetricsURL() string { return c.baseURL + "/metrics" }

// Describe returns the keys that identify the system under test: backend, model, image and
// gpus. It never holds tunables or secrets.
func (c *Container) Describe() map[string]string { return maps.Clone(c.ident) }

// Backend is the engine name, e.g. "vllm".
func (c *Container) Backend() string { return c.backend }

// LogFile is the path of the log file written when the container was removed or exited,
// or "" before that.
func (c *Container) LogFile() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.logFile
}

// Check returns nil while the container runs. Once it has exited, Check returns an error
// naming the exit code and quoting the last lines of its log: a runner that sees
// connection errors can call it to say why.
func (c *Container) Check(ctx context.Context) error {
	if c == nil || c.Container == nil {
		return errors.New("check backend: no container")
	}
	st, err := c.State(ctx)
	if err != nil {
		return fmt.Errorf("check %s: %w", c.backend, err)
	}
	if st.Running {
		return nil
	}
	return c.exitError(ctx, st)
}

func (c *Container) exitError(ctx context.Context, st *container.State) error {
	why := fmt.Sprintf("exited with code %d", st.ExitCode)
	if st.ExitCode > 128 && st.ExitCode < 160 {
		why += fmt.Sprintf(" (killed by signal %d)", st.ExitCode-128)
	}
	if st.OOMKilled {
		why += " (out of memory)"
	}
	if st.Error != "" {
		why += ": " + c.redact(st.Error)
	}
	return fmt.Errorf("%s container %s %s%s", c.backend, c.shortID(), why, c.tailSection(ctx))
}

// Terminate stops the exit watcher, then stops and removes the container.
func (c *Container) Terminate(ctx context.Context, opts ...testcontainers.TerminateOption) error {
	if c == nil || c.Container == nil {
		return nil
	}
	c.stopWatch()
	return c.Container.Terminate(ctx, opts...)
}

func (c *Container) shortID() string {
	id := c.GetContainerID()
	return id[:min(12, len(id))]
}

// LogTail returns the last n lines of the container log, with secrets redacted.
func (c *Container) LogTail(ctx context.Context, n int) (string, error) {
	b, err := c.readLogs(ctx)
	if err != nil {
		return "", err
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n"), nil
}

func (c *Container) readLogs(ctx context.Context) ([]byte, error) {
	if c.Container == nil {
		return nil, errors.New("no container")
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	rc, err := c.Logs(ctx)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var sb strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := rc.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return []byte(c.redact(sb.String())), nil
}

func (c *Container) tailSection(ctx context.Context) string {
	if c.Container == nil {
		return ""
	}
	t, err := c.LogTail(ctx, c.tail)
	if err != nil || strings.TrimSpace(t) == "" {
		return ""
	}
	return fmt.Sprintf("\nlast %d log lines of %s container %s:\n%s", c.tail, c.backend, c.shortID(), t)
}

// startError wraps err for Run, unless the message holds the secret: then only its
// redacted text is kept.
func (c *Container) startError(err error, tail string) error {
	if msg := err.Error(); c.secret != "" && strings.Contains(msg, c.secret) {
		return fmt.Errorf("start %s: %s%s", c.backend, c.redact(msg), tail)
	}
	return fmt.Errorf("start %s: %w%s", c.backend, err, tail)
}

func (c *Container) redact(s string) string {
	if c.secret == "" {
		return s
	}
	return strings.ReplaceAll(s, c.secret, redacted)
}

// writeLog saves the whole container log to the log directory.
func (c *Container) writeLog(ctx context.Context, dir string) error {
	if dir == "" || c.Container == nil {
		return nil
	}
	b, err := c.readLogs(ctx)
	if err != nil {
		return fmt.Errorf("read %s log: %w", c.backend, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	path := filepath.Join(dir, c.backend+"-"+c.shortID()+".log")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return err
	}
	c.mu.Lock()
	c.logFile = path
	c.mu.Unlock()
	return nil
}

// finish runs at test cleanup, before the container is removed.
func (c *Container) finish(tb testing.TB) {
	tb.Helper()
	c.stopWatch()
	if c.Container == nil {
		return
	}
	ctx := context.Background()
	dir := c.logDir
	if dir == "" {
		dir = tb.ArtifactDir()
	}
	if err := c.writeLog(ctx, dir); err != nil {
		tb.Logf("keep %s log: %v", c.backend, err)
	}
	if tb.Failed() {
		if t, err := c.LogTail(ctx, c.tail); err == nil {
			tb.Logf("last %d log lines of %s container %s (full log: %s):\n%s", c.tail, c.backend, c.shortID(), c.LogFile(), t)
		}
	}
}

// watchInterval is how often the watcher polls the container state.
var watchInterval = 500 * time.Millisecond

// Watch starts a goroutine that fails tb (with Errorf, so it is safe off the test
// goroutine) as soon as the container exits while the test runs, naming the exit code and
// quoting the log tail; [Container.Err] returns the same error. Terminate and the cleanup
// registered by [Track] stop it before the container is removed.
func (c *Container) Watch(tb testing.TB) {
	c.mu.Lock()
	c.stop = make(chan struct{})
	c.stopped = make(chan struct{})
	stop, stopped := c.stop, c.stopped
	c.mu.Unlock()
	go func() {
		defer close(stopped)
		tick := time.NewTicker(watchInterval)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			st, err := c.State(ctx)
			if err == nil && !st.Running {
				select {
				case <-stop: // exited because we stopped it
					cancel()
					return
				default:
				}
				exit := c.exitError(ctx, st)
				cancel()
				c.mu.Lock()
				c.exitErr = exit
				c.mu.Unlock()
				tb.Errorf("%v", exit)
				return
			}
			cancel()
		}
	}()
}

func (c *Container) stopWatch() {
	c.mu.Lock()
	stop, stopped := c.stop, c.stopped
	c.stop = nil
	c.mu.Unlock()
	if stop == nil {
		return
	}
	close(stop)
	<-stopped
}

// Err returns the error the watcher reported when the container exited while the test
// ran, or nil.
func (c *Container) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.exitErr
}

// IdentityOf is [Identity] for a built request: the image and GPU count come from req as
// customised, so options that change the image are reflected.
func IdentityOf(backend, model string, req testcontainers.GenericContainerRequest) map[string]string {
	gpus := 0
	for _, d := range HostConfig(req).DeviceRequests {
		gpus += max(d.Count, len(d.DeviceIDs))
	}
	return Identity(backend, model, req.Image, gpus)
}

// Customize applies opts to req in order, after the module's defaults, so user options win.
func Customize(req *testcontainers.GenericContainerRequest, opts ...testcontainers.ContainerCustomizer) error {
	for _, o := range opts {
		if err := o.Customize(req); err != nil {
			return err
		}
	}
	return nil
}

// NVIDIAUlimits are the ulimits NVIDIA's and SGLang's container guides pass
// (--ulimit memlock=-1 --ulimit stack=67108864).
func NVIDIAUlimits() []container.Ulimit {
	return []container.Ulimit{
		{Name: "memlock", Soft: -1, Hard: -1},
		{Name: "stack", Soft: 67108864, Hard: 67108864},
	}
}

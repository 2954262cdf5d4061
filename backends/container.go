package backends

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
)

// Container is a started backend. It embeds the testcontainers container (Terminate, Logs,
// Exec, ...) and adds what a perf case needs.
type Container struct {
	testcontainers.Container

	backend string
	engine  Engine
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

// MetricsURL is the server's Prometheus endpoint (perftest.MetricsSource).
func (c *Container) MetricsURL() string { return c.engine.metricsURL(c.baseURL) }

// MetricNames maps perftest's server metrics to the engine's series (perftest.MetricsSource).
func (c *Container) MetricNames() map[string]string { return c.engine.metricNames() }

// ResetPrefixCache empties the engine's prefix cache (perftest.CacheResetter); it wraps
// errors.ErrUnsupported for an engine that has no way.
func (c *Container) ResetPrefixCache(ctx context.Context) error {
	return c.engine.resetPrefixCache(ctx, c.baseURL)
}

// VocabularySize is the server's vocabulary size (perftest.Vocabulary), for engines that
// report it.
func (c *Container) VocabularySize(ctx context.Context) (int, error) {
	return c.engine.vocabularySize(ctx, c.baseURL)
}

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

// redactLogger keeps a secret out of testcontainers' own log lines, which quote container
// logs when a wait fails.
type redactLogger struct {
	inner  tclog.Logger
	secret string
}

func (l redactLogger) Printf(format string, v ...any) {
	l.inner.Printf("%s", strings.ReplaceAll(fmt.Sprintf(format, v...), l.secret, redacted))
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

// finish runs at test cleanup, before the container is removed, and writes the log to dir.
func (c *Container) finish(tb testing.TB, dir string) {
	tb.Helper()
	c.stopWatch()
	if c.Container == nil {
		return
	}
	ctx := context.Background()
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
// registered by [Start] stop it before the container is removed.
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

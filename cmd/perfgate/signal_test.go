//go:build unix

package main

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/internal/fakeserver"
)

// markerEnv makes the perfgate child print signalsMarker on stderr once it catches SIGINT
// and SIGTERM, so that the tests signal it only then.
const (
	markerEnv     = "PERFGATE_TEST_SIGNALS_MARKER"
	signalsMarker = "perfgate-test: signals caught"
)

// syncBuffer is a child's output, read while the child writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// child is perfgate running as a process of this test binary.
type child struct {
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	exited         chan error
}

func startChild(t *testing.T, args ...string) *child {
	t.Helper()
	c := &child{cmd: perfgateCmd(args...), stdout: &syncBuffer{}, stderr: &syncBuffer{}, exited: make(chan error, 1)}
	c.cmd.Env = append(c.cmd.Env, markerEnv+"=1")
	c.cmd.Stdout, c.cmd.Stderr = c.stdout, c.stderr
	require.NoError(t, c.cmd.Start())
	go func() { c.exited <- c.cmd.Wait() }()
	t.Cleanup(func() {
		if c.cmd.ProcessState == nil {
			_ = c.cmd.Process.Kill()
		}
	})
	return c
}

// waitFor polls cond until it holds, failing the test if the child exits first or a
// minute passes (a bound for a stuck child, not a timing assertion).
func (c *child) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(5 * time.Millisecond) {
		select {
		case err := <-c.exited:
			c.exited <- err
			t.Fatalf("perfgate exited before %s: %v\nstderr:\n%s", what, err, c.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s within a minute; stderr:\n%s", what, c.stderr.String())
		}
	}
}

// fifo makes a FIFO at path.
func fifo(t *testing.T, path string) string {
	t.Helper()
	require.NoError(t, syscall.Mkfifo(path, 0o600))
	return path
}

// TestEveryCommandEndsOnSignal: issue 23 found that main's signal.NotifyContext swallowed
// Ctrl-C and SIGTERM for every command that did not look at the context (history, report
// on a FIFO named x.txt, estimate --config on a FIFO, ...): only kill -9 ended them. Each
// command is signalled while it works (blocked on a FIFO with no data, or waiting on a
// server that stalls), and must end with exit status 130 and say so (mock: 0, "stopped",
// as serving until interrupted is its normal end). The time from the signal to the exit
// is logged; perfgate waits interruptGrace (750ms) for a command before leaving it behind.
func TestEveryCommandEndsOnSignal(t *testing.T) {
	type setup struct {
		args  []string
		ready func(t *testing.T, c *child)
	}
	fifoReady := func(path string) func(t *testing.T, c *child) {
		return func(t *testing.T, c *child) {
			w := openFIFOWriter(t, path, c.exited) // opens once perfgate has the FIFO open
			t.Cleanup(func() { w.Close() })
		}
	}
	served := func(srv *fakeserver.Server) func(t *testing.T, c *child) {
		return func(t *testing.T, c *child) {
			c.waitFor(t, "a request", func() bool { return srv.Requests() > 0 })
		}
	}
	printed := func(s string) func(t *testing.T, c *child) {
		return func(t *testing.T, c *child) {
			c.waitFor(t, "output "+s, func() bool { return strings.Contains(c.stderr.String()+c.stdout.String(), s) })
		}
	}
	cases := []struct {
		name string
		make func(t *testing.T) setup
		code int
		want string
	}{
		{"history-fifo", func(t *testing.T) setup {
			p := fifo(t, filepath.Join(t.TempDir(), "case.history.jsonl"))
			return setup{[]string{"history", p}, fifoReady(p)}
		}, 130, "perfgate history: interrupted ("},
		{"report-fifo-x.txt", func(t *testing.T) setup {
			dir := t.TempDir()
			p := fifo(t, filepath.Join(dir, "x.txt"))
			return setup{[]string{"report", dir, "--out", t.TempDir()}, fifoReady(p)}
		}, 130, "perfgate report: interrupted ("},
		{"estimate-fifo", func(t *testing.T) setup {
			p := fifo(t, filepath.Join(t.TempDir(), "config.json"))
			return setup{[]string{"estimate", "--config", p}, fifoReady(p)}
		}, 130, "perfgate estimate: interrupted ("},
		{"trace-fifo", func(t *testing.T) setup {
			p := fifo(t, filepath.Join(t.TempDir(), "trace.jsonl"))
			return setup{[]string{"trace", "stats", p}, fifoReady(p)}
		}, 130, "perfgate trace: interrupted ("},
		{"compare-fifo", func(t *testing.T) setup {
			p := fifo(t, filepath.Join(t.TempDir(), "old.txt"))
			return setup{[]string{"compare", p, td + "base.txt"}, fifoReady(p)}
		}, 130, "perfgate compare: interrupted ("},
		{"run", func(t *testing.T) setup {
			srv := fakeserver.Start(t, fakeserver.Config{Fault: fakeserver.Stall})
			return setup{[]string{"run", "--endpoint", srv.BaseURL(), "--requests", "2", "--concurrency", "1", "--count", "1", "--warmup", "-1", "--out", t.TempDir()}, served(srv)}
		}, 130, "perfgate run: stopped during repetition 1: "},
		{"ab", func(t *testing.T) setup {
			srv := fakeserver.Start(t, fakeserver.Config{Fault: fakeserver.Stall})
			return setup{[]string{"ab", "--a", srv.BaseURL(), "--b", srv.BaseURL(), "--requests", "2", "--concurrency", "1", "--count", "2", "--warmup", "-1"}, served(srv)}
		}, 130, "perfgate ab: "},
		{"profile", func(t *testing.T) setup {
			srv := fakeserver.Start(t, fakeserver.Config{Fault: fakeserver.Stall})
			return setup{[]string{"profile", "--endpoint", srv.BaseURL(), "--prefill-requests", "1"}, served(srv)}
		}, 130, "perfgate profile: "},
		{"router", func(t *testing.T) setup {
			srv := fakeserver.Start(t, fakeserver.Config{Fault: fakeserver.Stall})
			return setup{[]string{"router", "--endpoint", "kv=" + srv.BaseURL(), "--ratios", "0.5", "--requests", "2", "--isl", "64", "--osl", "4", "--prefixes", "1"}, served(srv)}
		}, 130, "perfgate router: "},
		{"calibrate", func(t *testing.T) setup {
			return setup{[]string{"calibrate", "--streams", "64", "--tokens", "100000", "--rate", "-1", "--memory-streams", "-1"}, printed(signalsMarker)}
		}, 130, "perfgate calibrate: "},
		{"mock", func(t *testing.T) setup {
			return setup{[]string{"mock", "--host", "127.0.0.1", "--port", "0"}, printed("perfgate mock: serving model")}
		}, 0, "perfgate mock: stopped"},
		{"mock-replay-fifo", func(t *testing.T) setup {
			p := fifo(t, filepath.Join(t.TempDir(), "trace.jsonl"))
			return setup{[]string{"mock", "replay", "--trace", p}, fifoReady(p)}
		}, 130, "perfgate mock: interrupted ("},
	}
	for _, tc := range cases {
		for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
			t.Run(tc.name+"/"+sig.String(), func(t *testing.T) {
				t.Parallel()
				s := tc.make(t)
				c := startChild(t, s.args...)
				c.waitFor(t, "signal handling", func() bool { return strings.Contains(c.stderr.String(), signalsMarker) })
				s.ready(t, c)
				require.NoError(t, c.cmd.Process.Signal(sig))
				sent := time.Now()
				var err error
				select {
				case err = <-c.exited:
				case <-time.After(time.Minute):
					t.Fatalf("perfgate %s still runs a minute after %v; stderr:\n%s", tc.name, sig, c.stderr.String())
				}
				t.Logf("ended %v after %v", sig, time.Since(sent).Round(time.Millisecond))
				code := 0
				var ee *exec.ExitError
				if err != nil {
					require.ErrorAs(t, err, &ee, "stderr:\n%s", c.stderr.String())
					code = ee.ExitCode()
				}
				assert.Equal(t, tc.code, code, "stderr:\n%s", c.stderr.String())
				assert.Contains(t, c.stderr.String(), tc.want)
			})
		}
	}
}

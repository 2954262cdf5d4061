//go:build unix

package proc

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// script writes an executable shell script into a temporary folder and returns its path.
func script(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "nvidia-smi")
	require.NoError(t, os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755))
	return p
}

// ended runs f and fails the test if it has not returned within a minute: a hang shows as
// a failure, not as a stalled test binary. It is not a timing limit on f.
func ended[T any](t *testing.T, f func() T) T {
	t.Helper()
	done := make(chan T, 1)
	go func() { done <- f() }()
	select {
	case v := <-done:
		return v
	case <-time.After(time.Minute):
		t.Fatal("still running after a minute")
		panic("unreachable")
	}
}

type result struct {
	out []byte
	err error
}

func output(t *testing.T, lim Limits, name string, args ...string) result {
	return ended(t, func() result {
		out, err := Output(t.Context(), lim, name, args...)
		return result{out, err}
	})
}

func TestOutputAnswers(t *testing.T) {
	r := output(t, Limits{}, script(t, "echo 'NVIDIA H100 80GB HBM3'\n"))
	require.NoError(t, r.err)
	assert.Equal(t, "NVIDIA H100 80GB HBM3\n", string(r.out))
}

// Issue 23: an nvidia-smi that is a script sleeping for an hour hung perfgate run for good
// (the context's kill reached the shell, not its sleep, which kept the pipe open).
func TestOutputProgramThatNeverAnswers(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	r := output(t, Limits{Timeout: 300 * time.Millisecond}, script(t, "sleep 3600 &\necho $! > "+pidFile+"\nwait\n"))
	require.ErrorIs(t, r.err, ErrTimeout)
	assert.Contains(t, r.err.Error(), "nvidia-smi: no answer in time (300ms)")
	assertGone(t, pidFile)
}

// A program that answers and exits, leaving a child that holds its output open: Output
// ends WaitDelay after the program did, and the child is killed.
func TestOutputChildHoldsThePipe(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	r := output(t, Limits{Timeout: time.Minute}, script(t, "sleep 3600 &\necho $! > "+pidFile+"\necho name\n"))
	require.ErrorIs(t, r.err, exec.ErrWaitDelay)
	assertGone(t, pidFile)
}

// Issue 23: `yes` as nvidia-smi grew perfgate to 2.1 GB.
func TestOutputEndlessOutput(t *testing.T) {
	r := output(t, Limits{MaxOutput: 64 << 10}, "yes")
	require.ErrorIs(t, r.err, ErrOutputLimit)
	assert.Contains(t, r.err.Error(), "yes: output over the limit of 65536 bytes")
	assert.Len(t, r.out, 64<<10, "what was read, and no more")
}

func TestOutputFailure(t *testing.T) {
	r := output(t, Limits{}, script(t, "echo 'NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver.' >&2\nexit 9\n"))
	var ee *exec.ExitError
	require.ErrorAs(t, r.err, &ee)
	assert.Equal(t, 9, ee.ExitCode())
	assert.Contains(t, r.err.Error(), "exit status 9: NVIDIA-SMI has failed because it could not communicate")

	r = output(t, Limits{}, filepath.Join(t.TempDir(), "missing"))
	assert.ErrorIs(t, r.err, os.ErrNotExist)
	r = output(t, Limits{}, "perfgate-no-such-program")
	assert.ErrorIs(t, r.err, exec.ErrNotFound)
}

func TestOutputCancelled(t *testing.T) {
	ctx, cancel := context.WithCancelCause(t.Context())
	cause := errors.New("interrupted")
	time.AfterFunc(100*time.Millisecond, func() { cancel(cause) })
	err := ended(t, func() error {
		_, err := Output(ctx, Limits{Timeout: time.Hour}, script(t, "sleep 3600\n"))
		return err
	})
	require.ErrorIs(t, err, cause)
	assert.NotErrorIs(t, err, ErrTimeout)
}

// assertGone waits (a bounded while) for the process whose id is in pidFile to be gone.
func assertGone(t *testing.T, pidFile string) {
	t.Helper()
	b, err := os.ReadFile(pidFile)
	require.NoError(t, err)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	require.NoError(t, err)
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) || zombie(pid) {
			return
		}
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	t.Errorf("the program's child %d outlived it", pid)
}

// zombie reports whether pid has ended and waits for its new parent to reap it (Linux).
func zombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return strings.HasPrefix(rest, "Z")
}

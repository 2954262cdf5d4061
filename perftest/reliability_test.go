package perftest

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/perfgate/perfgate/fixtures"
	"github.com/perfgate/perfgate/perftest/resultfile"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRunStopsBeforeTestDeadline(t *testing.T) {
	srv := newFakeServer(t, 2*time.Millisecond, nil)
	out := t.TempDir()
	setFlag(t, flagOut, out)
	c := &captureTB{TB: t, ctx: t.Context(), deadline: time.Now().Add(800 * time.Millisecond)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Run(c, Case{Target: srv, Workload: small, Load: Concurrency(4), Count: 10000, Warmup: -1})
	}()
	<-done
	require.True(t, c.fatal)
	assert.Contains(t, c.errors(), "the test's -timeout deadline is near")
	rf, err := resultfile.Read(filepath.Join(out, "RunStopsBeforeTestDeadline.txt"))
	require.NoError(t, err, "what was measured before the deadline is written")
	assert.NotEmpty(t, rf.Values("e2e-p50-sec"))
}

func TestRunContextCatchesInterrupt(t *testing.T) {
	ctx, stop := runContext(t)
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGINT))
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("interrupt did not cancel the run")
	}
	assert.True(t, stop(), "stop reports the interrupt")
	ctx, stop = runContext(t)
	assert.NoError(t, ctx.Err())
	assert.False(t, stop())
}

func TestBackendDiesMidRun(t *testing.T) {
	srv := newFakeServer(t, 2*time.Millisecond, nil)
	time.AfterFunc(150*time.Millisecond, func() {
		srv.CloseClientConnections()
		srv.Close()
	})
	out := t.TempDir()
	setFlag(t, flagOut, out)
	w := fixtures.Synthetic{ISL: 8, OSL: 8, Prompts: 40, Seed: 1}
	c := capture(t, nil, func(tb testing.TB) {
		Run(tb, Case{Target: srv, Workload: w, Load: Concurrency(2), Count: 3, Warmup: -1})
	})
	assert.False(t, c.fatal, "a dead backend is counted, not a crash of the run")
	msg := c.errors()
	assert.Contains(t, msg, "requests failed")
	assert.Regexp(t, `first error: (connect|disconnect)`, msg)
	rf, err := resultfile.Read(filepath.Join(out, "BackendDiesMidRun.txt"))
	require.NoError(t, err)
	assert.Len(t, rf.Values("error-rate"), 3)
	assert.Equal(t, 1.0, rf.Values("error-rate")[2], "every request after the death fails")
}

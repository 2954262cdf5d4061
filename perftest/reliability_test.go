package perftest

import (
	"path/filepath"
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
	// A deadline far enough off for a busy machine to finish a repetition before it.
	c := &captureTB{TB: t, ctx: t.Context(), deadline: time.Now().Add(3 * time.Second)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		// A fixed count (MaxCount: Count): Run runs all of it, not a gate's first look.
		Run(c, Case{Target: srv, Workload: small, Load: Concurrency(4), Count: 10000, MaxCount: 10000, Warmup: -1})
	}()
	<-done
	require.True(t, c.fatal)
	assert.Contains(t, c.errors(), "the test's -timeout deadline is near")
	rf, err := resultfile.Read(filepath.Join(out, "RunStopsBeforeTestDeadline.txt"))
	require.NoError(t, err, "what was measured before the deadline is written")
	assert.NotEmpty(t, rf.Values("e2e-p50-sec"))
}

func TestBackendDiesMidRun(t *testing.T) {
	// The backend dies during the first repetition (40 requests), whenever that is.
	var srv *fakeServer
	srv = newFakeServer(t, 2*time.Millisecond, func(n int64) string {
		if n == 20 {
			go func() {
				srv.CloseClientConnections()
				srv.Close()
			}()
		}
		return ""
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

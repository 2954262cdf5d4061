//go:build unix

package perftest

import (
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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

package perftest

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSweep(t *testing.T) {
	srv := newFakeServer(t, time.Millisecond, nil)
	out := t.TempDir()
	setFlag(t, flagOut, out)
	res := Sweep(t, Case{Target: srv, Workload: small, Count: 2}, ConcurrencySweep(1, 4)...)
	require.Len(t, res, 2)
	assert.Equal(t, "Sweep/concurrency=1", res[0].Name)
	assert.Equal(t, "concurrency=4", res[1].ConfigValue("load"))
	for _, name := range []string{"Sweep_concurrency=1.txt", "Sweep_concurrency=4.txt"} {
		fi, err := os.Stat(filepath.Join(out, name))
		require.NoError(t, err, name)
		assert.Positive(t, fi.Size())
	}
	assert.Equal(t, out, OutDir())
	assert.Equal(t, []Load{Concurrency(1), Concurrency(2), Concurrency(5), Concurrency(10), Concurrency(50), Concurrency(100), Concurrency(250)}, ConcurrencySweep())
}

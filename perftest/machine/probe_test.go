package machine

import (
	"math"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/perfgate/perfgate/perftest/metric"
)

func writeProc(t *testing.T, dir, stat, pressure string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "pressure"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "stat"), []byte(stat), 0o644))
	if pressure != "" {
		require.NoError(t, os.WriteFile(filepath.Join(dir, "pressure", "cpu"), []byte(pressure), 0o644))
	}
}

// waitWakes waits until the probe has measured a wake-up: how long that takes depends on
// the machine, so it is not a limit under test.
func waitWakes(t *testing.T, p *Probe) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		p.mu.Lock()
		n := p.late.TotalCount()
		p.mu.Unlock()
		if n > 0 {
			return
		}
	}
	t.Fatal("the wake-up probe measured nothing in a minute")
}

func TestProbeDifferencesTheCounters(t *testing.T) {
	defer goleak.VerifyNone(t)
	if runtime.GOOS != "linux" && runtime.GOOS != "darwin" && runtime.GOOS != "freebsd" {
		t.Skip("the process's own CPU time is read with getrusage, on unix only")
	}
	dir := t.TempDir()
	writeProc(t, dir, "cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 1 2 3\n",
		"some avg10=0.00 avg60=0.00 avg300=0.00 total=1000\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n")
	p := startProbe(dir)
	waitWakes(t, p)
	// 350 ticks of busy time (3.5 CPU-seconds, 0.5 of it stolen), 100 idle, and 50 ms of
	// pressure stall.
	writeProc(t, dir, "cpu  300 0 200 900 0 0 0 50 0 0\n", "some avg10=1.00 avg60=0.00 avg300=0.00 total=51000\nfull total=0\n")
	l := p.Stop()
	assert.Empty(t, l.Missing)
	assert.InDelta(t, 50.0/450, l.Steal, 1e-9, "stolen ticks over all ticks")
	assert.InDelta(t, math.Min(1, 50000/float64(l.Wall.Microseconds())), l.Pressure, 1e-9)
	// This process's own CPU time is subtracted: a few milliseconds at most here.
	assert.LessOrEqual(t, l.OthersCPU, 3.5/l.Wall.Seconds())
	assert.Greater(t, l.OthersCPU, 3.0/l.Wall.Seconds())
	assert.Positive(t, l.Wakes)
	assert.LessOrEqual(t, l.WakeP50, l.WakeP90)
	assert.LessOrEqual(t, l.WakeP90, l.WakeP99)
	units := map[string]bool{}
	for _, m := range l.Metrics() {
		units[m.Unit] = true
		assert.True(t, metric.Default().IsFigure(m.Unit), m.Unit)
	}
	assert.Equal(t, map[string]bool{metric.MachineOthersCPU: true, metric.MachinePressure: true, metric.MachineSteal: true,
		metric.MachineWakeP50: true, metric.MachineWakeP90: true, metric.MachineWakeP99: true, metric.MachineWakeMean: true}, units)
	assert.Equal(t, l.Wall, p.Stop().Wall, "a second Stop returns the first interval")
}

func TestProbeSaysWhatIsMissing(t *testing.T) {
	defer goleak.VerifyNone(t)
	dir := t.TempDir()
	writeProc(t, dir, "intr 5\n", "") // no aggregate cpu line, no PSI file
	p := startProbe(dir)
	waitWakes(t, p)
	l := p.Stop()
	require.Len(t, l.Missing, 2)
	if runtime.GOOS == "linux" {
		assert.Contains(t, l.Missing[0], "first line is not the aggregate cpu line")
	}
	assert.Contains(t, l.Missing[1], filepath.Join(dir, "pressure", "cpu")+" does not exist on this machine")
	assert.True(t, math.IsNaN(l.OthersCPU) && math.IsNaN(l.Steal) && math.IsNaN(l.Pressure))
	for _, m := range l.Metrics() {
		assert.Contains(t, []string{metric.MachineWakeP50, metric.MachineWakeP90, metric.MachineWakeP99, metric.MachineWakeMean}, m.Unit, "unknown figures are left out")
	}
}

func TestProbeOnThisMachine(t *testing.T) {
	defer goleak.VerifyNone(t)
	p := StartProbe()
	waitWakes(t, p)
	l := p.Stop()
	t.Logf("load: others %.2f cores, pressure %.3f, steal %.3f, wake p50 %v p99 %v mean %v (%d wakes in %v); missing %q",
		l.OthersCPU, l.Pressure, l.Steal, l.WakeP50, l.WakeP99, l.WakeMean, l.Wakes, l.Wall, l.Missing)
	if runtime.GOOS != "linux" {
		return
	}
	if _, err := os.Stat("/proc/pressure/cpu"); err == nil {
		assert.False(t, math.IsNaN(l.Pressure))
	}
	assert.False(t, math.IsNaN(l.OthersCPU))
	assert.GreaterOrEqual(t, l.OthersCPU, 0.0)
}

func FuzzReadPressure(f *testing.F) {
	f.Add("some avg10=0.00 avg60=0.00 avg300=0.00 total=1958191072\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n")
	f.Add("some total=\n")
	f.Add("full total=5\n")
	f.Add("some avg10=1 total=18446744073709551616\n")
	f.Fuzz(func(t *testing.T, s string) {
		path := filepath.Join(t.TempDir(), "cpu")
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		_, _ = readPressure(path)
	})
}

func FuzzReadStat(f *testing.F) {
	f.Add("cpu  446634 905 111727 411945 2532 0 3025 6743 0 0\ncpu0 1\n")
	f.Add("cpu 1 2 3\n")
	f.Add("cpu0 1 2 3 4 5 6 7 8\n")
	f.Add("cpu  -1 0 0 0 0 0 0 0\n")
	f.Fuzz(func(t *testing.T, s string) {
		path := filepath.Join(t.TempDir(), "stat")
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		busy, steal, total, err := readStat(path)
		if err == nil && (steal > busy || busy > total) {
			t.Fatalf("busy %d steal %d total %d", busy, steal, total)
		}
	})
}

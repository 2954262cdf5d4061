package machine

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/perftest/metric"
	"github.com/perfgate/perfgate/perftest/resultfile"
)

// fakeSMI puts testdata/fake-nvidia-smi first on PATH and gives it a fresh state folder
// whose reasons file holds one throttle bitmask per repetition.
func fakeSMI(t *testing.T, reasons ...string) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("the fake nvidia-smi is a shell script")
	}
	dir, err := filepath.Abs("testdata/fake-nvidia-smi")
	require.NoError(t, err)
	state := t.TempDir()
	if len(reasons) > 0 {
		require.NoError(t, os.WriteFile(filepath.Join(state, "reasons"), []byte(strings.Join(reasons, "\n")+"\n"), 0o644))
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("FAKE_NVIDIA_SMI_STATE", state)
	queries.Clear() // each test resolves its own binary's fields
}

// sample runs one sampler over a short "repetition": until a few readings arrived.
func sample(t *testing.T, want int) GPUStats {
	t.Helper()
	s := StartGPUSampler(t.Context(), "", 10*time.Millisecond)
	deadline := time.Now().Add(30 * time.Second) // a bound for a stuck fake, not a timing assertion
	for time.Now().Before(deadline) {
		if s.Readings() >= want || s.done == nil {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	return s.Stop()
}

func TestParseGPULine(t *testing.T) {
	r, err := parseGPULine("0, 1980, 2619, 351.25, 66, 40123, 97, 0x0000000000000024")
	require.NoError(t, err)
	assert.Equal(t, GPUReading{Index: 0, SMClockMHz: 1980, MemClockMHz: 2619, PowerW: 351.25, TempC: 66, MemUsedMiB: 40123, UtilPct: 97,
		Reasons: ThrottleSWPowerCap | ThrottleSWThermalSlowdown}, r)
	assert.Equal(t, "sw_power_cap+sw_thermal_slowdown", r.Reasons.String())

	r, err = parseGPULine("1, 1410, [N/A], [Not Supported], 40, 10, 0, [N/A]")
	require.NoError(t, err, "unsupported fields are NaN, not errors")
	assert.True(t, math.IsNaN(r.MemClockMHz) && math.IsNaN(r.PowerW))
	assert.Equal(t, ThrottleReasons(0), r.Reasons)

	for _, bad := range []string{"", "0, 1, 2", "x, 1, 2, 3, 4, 5, 6, 0x0", "0, 1, 2, 3, 4, 5, 6, zz"} {
		_, err := parseGPULine(bad)
		assert.Error(t, err, "%q", bad)
	}
	assert.Equal(t, "none", ThrottleReasons(0).String())
	assert.Equal(t, "gpu_idle+0x1000", (ThrottleGPUIdle | 0x1000).String())
}

func FuzzParseGPULine(f *testing.F) {
	f.Add("0, 1980, 2619, 351.25, 66, 40123, 97, 0x0000000000000024")
	f.Add("1, 1410, [N/A], [Not Supported], 40, 10, 0, [N/A]")
	f.Add(",,,,,,,")
	f.Fuzz(func(t *testing.T, line string) {
		r, err := parseGPULine(line)
		if err == nil && r.Index < 0 && !strings.Contains(line, "-") {
			t.Fatalf("negative index from %q", line)
		}
	})
}

// TestGPUSamplerThrottledRepetition: three repetitions, the second thermally throttled:
// only its stats say so, with the reason, and its result line carries it.
func TestGPUSamplerThrottledRepetition(t *testing.T) {
	fakeSMI(t, "0x0000000000000000", "0x0000000000000020", "0x0000000000000001")
	t.Setenv("FAKE_NVIDIA_SMI_GPUS", "2")
	var reps []GPUStats
	for range 3 {
		reps = append(reps, sample(t, 4))
	}
	for i, s := range reps {
		require.True(t, s.Sampled, "repetition %d: %s", i+1, s.Note)
		assert.Equal(t, 2, s.GPUs)
		assert.GreaterOrEqual(t, s.Readings, 4)
		assert.InDelta(t, 1980, s.SMClockMHz, 1e-9)
		assert.InDelta(t, 351.25, s.PowerW, 1e-9)
		assert.Empty(t, s.Note)
	}
	assert.False(t, reps[0].Throttled())
	assert.True(t, reps[1].Throttled())
	assert.Equal(t, ThrottleSWThermalSlowdown, reps[1].Reasons)
	assert.Equal(t, reps[1].Readings, reps[1].ThrottledReadings)
	assert.InDelta(t, 87, reps[1].MaxTempC, 1e-9)
	assert.False(t, reps[2].Throttled(), "gpu_idle is not a slowdown")
	assert.Contains(t, reps[1].String(), "THROTTLED")
	assert.Contains(t, reps[1].String(), "sw_thermal_slowdown")

	f := &resultfile.File{Name: "PerfX"}
	for _, s := range reps {
		m := append([]resultfile.Metric{{Unit: "tok/s", Value: 100}}, s.Metrics()...)
		f.Reps = append(f.Reps, resultfile.Rep{Iters: 1, Metrics: m})
	}
	f.Units = []string{"tok/s"}
	for _, m := range reps[0].Metrics() {
		f.Units = append(f.Units, m.Unit)
		assert.True(t, IsTelemetry(m.Unit), m.Unit)
	}
	assert.True(t, HasTelemetry(f))
	th := Throttled(f)
	require.Len(t, th, 1)
	assert.Equal(t, 1, th[0].Rep)
	assert.Equal(t, "repetition 2 (sw_thermal_slowdown in 100% of readings)", th[0].String())

	// The metrics survive a round trip through a result file.
	path := filepath.Join(t.TempDir(), "r.txt")
	require.NoError(t, f.WriteFile(path))
	back, err := resultfile.Read(path)
	require.NoError(t, err)
	assert.Equal(t, th, Throttled(back))
}

func TestGPUSamplerNoGPU(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	s := StartGPUSampler(t.Context(), "", 10*time.Millisecond).Stop()
	assert.False(t, s.Sampled)
	assert.Equal(t, "no nvidia-smi on PATH: no GPU, nothing sampled", s.Note)
	assert.Nil(t, s.Metrics())
	assert.Equal(t, "GPU telemetry: no nvidia-smi on PATH: no GPU, nothing sampled", s.String())
	assert.False(t, HasTelemetry(&resultfile.File{Units: []string{"tok/s"}}))
}

func TestGPUSamplerNoDriver(t *testing.T) {
	fakeSMI(t)
	t.Setenv("FAKE_NVIDIA_SMI_MODE", "nodriver")
	s := StartGPUSampler(t.Context(), "", 10*time.Millisecond).Stop()
	assert.False(t, s.Sampled)
	assert.Contains(t, s.Note, "nothing sampled")
	assert.Contains(t, s.Note, "couldn't communicate with the NVIDIA driver")
}

// TestGPUSamplerNewFieldName: a driver that knows only clocks_event_reasons.active.
func TestGPUSamplerNewFieldName(t *testing.T) {
	fakeSMI(t, "0x0000000000000004")
	t.Setenv("FAKE_NVIDIA_SMI_MODE", "newnames")
	s := sample(t, 2)
	require.True(t, s.Sampled, s.Note)
	assert.Equal(t, ThrottleSWPowerCap, s.Reasons)
	fields, err := resolveQuery(context.Background(), lookPath(t))
	require.NoError(t, err)
	assert.True(t, strings.HasSuffix(fields, eventField), fields)
}

func lookPath(t *testing.T) string {
	t.Helper()
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		if p := filepath.Join(dir, "nvidia-smi"); fileExists(p) {
			return p
		}
	}
	t.Fatal("no nvidia-smi on PATH")
	return ""
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func TestSummarizeSkipsNaN(t *testing.T) {
	nan := math.NaN()
	s := summarize([]GPUReading{{Index: 0, SMClockMHz: 1000, PowerW: nan, TempC: 50}, {Index: 0, SMClockMHz: 2000, PowerW: nan, TempC: 60}})
	assert.InDelta(t, 1500, s.SMClockMHz, 1e-9)
	assert.InDelta(t, 1000, s.MinSMClockMHz, 1e-9)
	assert.True(t, math.IsNaN(s.PowerW))
	for _, m := range s.Metrics() {
		assert.NotEqual(t, metric.GPUPower, m.Unit, "no power figure: no power metric")
		assert.False(t, math.IsNaN(m.Value), fmt.Sprint(m))
	}
}

// A sampler's nvidia-smi that prints a line without end, then good lines: the long line
// is counted as unreadable without being held whole, and the readings after it count.
func TestGPUSamplerLineWithoutEnd(t *testing.T) {
	s := &GPUSampler{start: time.Now()}
	w := lineWriter{s}
	junk := []byte(strings.Repeat("x", 1<<10))
	for range 1 << 10 { // 1 MiB in 1 KiB writes, no newline
		n, err := w.Write(junk)
		require.NoError(t, err)
		require.Equal(t, len(junk), n)
	}
	assert.LessOrEqual(t, cap(s.partial), 2*maxGPULine, "what is kept of the line stays bounded")
	_, err := w.Write([]byte("\n0, 1980, 2619, 351.25, 66, 40123, 97, 0x0000000000000000\n0, 1980, 26"))
	require.NoError(t, err)
	_, err = w.Write([]byte("19, 351.25, 66, 40123, 97, 0x0000000000000004\n"))
	require.NoError(t, err)
	assert.Equal(t, 2, s.Readings())
	assert.Equal(t, 1, s.bad)
	assert.ErrorContains(t, s.firstBad, "nvidia-smi printed a line over 4096 bytes")
}

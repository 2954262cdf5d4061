package report

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/perftest/machine"
	"github.com/perfgate/perfgate/perftest/resultfile"
)

// withTelemetry copies the gated example to a new folder and samples the fake nvidia-smi
// (package machine's testdata) once per repetition of the current run, the way a runner
// samples during each repetition; reasons[i] is the throttle bitmask the fake reports in
// repetition i+1. The samples' metrics are added to that repetition's result line.
func withTelemetry(t *testing.T, reasons []string) string {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("the fake nvidia-smi is a shell script")
	}
	dir := t.TempDir()
	for _, name := range []string{"PerfChat.txt", "PerfChat.baseline.txt", "PerfChat.records.jsonl", "PerfChat.server.jsonl"} {
		b, err := os.ReadFile(filepath.Join("testdata/gated", name))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), b, 0o644))
	}
	fake, err := filepath.Abs("../machine/testdata/fake-nvidia-smi")
	require.NoError(t, err)
	state := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(state, "reasons"), []byte(strings.Join(reasons, "\n")+"\n"), 0o644))
	t.Setenv("PATH", fake+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("FAKE_NVIDIA_SMI_STATE", state)

	cur, err := resultfile.Read(filepath.Join(dir, "PerfChat.txt"))
	require.NoError(t, err)
	require.Len(t, cur.Reps, len(reasons))
	for i := range cur.Reps {
		s := machine.StartGPUSampler(t.Context(), "", 5*time.Millisecond)
		for deadline := time.Now().Add(time.Minute); s.Readings() < 3 && time.Now().Before(deadline); {
			time.Sleep(2 * time.Millisecond) // a repetition long enough for a few readings
		}
		stats := s.Stop()
		require.True(t, stats.Sampled, stats.Note)
		cur.Reps[i].Metrics = append(cur.Reps[i].Metrics, stats.Metrics()...)
	}
	for _, m := range cur.Reps[0].Metrics {
		if machine.IsTelemetry(m.Unit) {
			cur.Units = append(cur.Units, m.Unit)
		}
	}
	require.NoError(t, cur.WriteFile(filepath.Join(dir, "PerfChat.txt")))
	return dir
}

// TestThrottledRepetitionIsInconclusive: the fake nvidia-smi reports thermal throttling in
// repetition 4 of the regressed run. The report shows the throttled repetition and calls
// the run INCONCLUSIVE, not a REGRESSION; the GPU figures are shown and not gated. The
// same run on a GPU that never throttled is a REGRESSION.
func TestThrottledRepetitionIsInconclusive(t *testing.T) {
	reasons := make([]string, 10)
	for i := range reasons {
		reasons[i] = "0x0000000000000000"
	}
	reasons[3] = "0x0000000000000020" // sw_thermal_slowdown
	r, err := Load(withTelemetry(t, reasons), Options{})
	require.NoError(t, err)
	require.Len(t, r.Cases, 1)
	c := r.Cases[0]
	v, why := c.Verdict()
	assert.Equal(t, Inconclusive, v)
	assert.Equal(t, Inconclusive, r.Verdict())
	assert.Contains(t, why, "current repetition 4 (sw_thermal_slowdown in 100% of readings)")
	require.Len(t, c.Throttled, 1)
	assert.Equal(t, 3, c.Throttled[0].Rep)
	for _, d := range c.Compare.Deltas {
		assert.False(t, machine.IsTelemetry(d.Unit), "GPU telemetry is not gated: %s", d.Unit)
	}

	var md strings.Builder
	require.NoError(t, r.WriteMarkdown(&md))
	assert.True(t, strings.HasPrefix(md.String(), "# perfgate: INCONCLUSIVE: 1 of 1 compared run regressed on a GPU that throttled\n"), md.String()[:200])
	assert.Contains(t, md.String(), "> **INCONCLUSIVE**: 15 metrics regressed")
	assert.Contains(t, md.String(), "GPU, current (medians over 10 repetitions): SM clock 1980 MHz, 351 W, max 66 °C, 97% busy; throttled in 1.")
	assert.NotContains(t, md.String(), "# perfgate: REGRESSION")

	page := writeHTML(t, r)
	assert.Empty(t, selfContained(page))
	has(t, page, "GPU telemetry (not gated)")
	has(t, page, "repetition in which a GPU throttled")
	has(t, page, `<span class="badge v-inconclusive">INCONCLUSIVE</span>`)
	checkPlots(t, "throttled", page)

	// The control: the same regressed run, the GPU cool all along.
	for i := range reasons {
		reasons[i] = "0x0000000000000000"
	}
	r, err = Load(withTelemetry(t, reasons), Options{})
	require.NoError(t, err)
	v, _ = r.Cases[0].Verdict()
	assert.Equal(t, Regression, v)
	assert.Empty(t, r.Cases[0].Throttled)
}

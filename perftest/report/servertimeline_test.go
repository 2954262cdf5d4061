package report_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/backends/mock"
	"github.com/perfgate/perfgate/fixtures"
	"github.com/perfgate/perfgate/perftest"
	"github.com/perfgate/perfgate/perftest/report"
)

// TestServerTimelineFromARealRun runs a case against the simulator, writes its files as
// -perf.out does, and checks that the report's timeline holds the server's queue and KV
// usage of the repetition it shows, sampled during that repetition (NAME.server.jsonl is
// written by the run itself, not only by this package's testdata generator).
func TestServerTimelineFromARealRun(t *testing.T) {
	srv := mock.Start(t, mock.Config{Model: "sim", SpeedupRatio: 4})
	res := perftest.Run(t, perftest.Case{Name: "PerfTimeline", Target: srv, Count: 2, Warmup: -1,
		Workload: fixtures.Synthetic{ISL: 256, OSL: 128, Prompts: 16, Seed: 1}, Load: perftest.Concurrency(8)})
	dir := t.TempDir()
	_, err := res.WriteFiles(dir)
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(dir, "PerfTimeline.server.jsonl"))
	require.NoError(t, err, "a run that scraped the server writes its timeline")

	r, err := report.Load(dir, report.Options{})
	require.NoError(t, err)
	require.Len(t, r.Cases, 1)
	tl := r.Cases[0].Timeline
	require.NotNil(t, tl)
	require.NotEmpty(t, tl.Server, "the shown repetition's server samples: %v", r.Notes)
	wall := res.Reps[tl.Rep].Wall
	for _, s := range tl.Server {
		assert.Contains(t, s.Values, "waiting")
		assert.Contains(t, s.Values, "kv-usage")
		assert.GreaterOrEqual(t, s.At, -wall, "sampled around the repetition it is shown with")
		assert.LessOrEqual(t, s.At, 2*wall+time250ms, "sampled around the repetition it is shown with")
	}
	assert.Positive(t, maxOf(tl.Server, "kv-usage"), "8 streams use some KV cache")

	// A later run that samples no server replaces the timeline rather than leaving one that
	// describes other repetitions.
	plain := perftest.Run(t, perftest.Case{Name: "PerfTimeline", Target: perftest.Endpoint(srv.BaseURL()), Count: 1, Warmup: -1,
		Workload: fixtures.Synthetic{ISL: 256, OSL: 16, Prompts: 4, Seed: 1}, Load: perftest.Concurrency(2)})
	_, err = plain.WriteFiles(dir)
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(dir, "PerfTimeline.server.jsonl"))
	assert.ErrorIs(t, err, os.ErrNotExist, "a stale timeline is removed")
}

const time250ms = 250_000_000

func maxOf(samples []report.ServerSample, key string) float64 {
	m := 0.0
	for _, s := range samples {
		m = max(m, s.Values[key])
	}
	return m
}

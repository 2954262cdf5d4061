package perftest

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/backends/llamacpp"
	"github.com/perfgate/perfgate/backends/trtllm"
	"github.com/perfgate/perfgate/fixtures"
	"github.com/perfgate/perfgate/internal/fakeserver"
	"github.com/perfgate/perfgate/perftest/metric"
)

// The stand-ins of llama.cpp's timings and TensorRT-LLM's per-request perf metrics,
// written from the engines' source (internal/fakeserver/timed.go), are parsed and joined:
// every request gets the phases the stand-in measured of it.
func TestTimedStandIns(t *testing.T) {
	for _, tc := range []struct {
		name    string
		dialect fakeserver.TimedDialect
		target  func(url string) Target
		source  string
		queue   bool
		lag     time.Duration
	}{
		{"llama.cpp timings", fakeserver.LlamaCppTimings, func(u string) Target { return llamacpp.Endpoint(u) }, "timings", false, 0},
		{"TensorRT-LLM perf metrics", fakeserver.TRTLLMPerfMetrics, func(u string) Target { return trtllm.Endpoint(u) }, "perf-metrics", true, 0},
		// Metrics booked 50 ms after each stream ended: read again until all are there.
		{"TensorRT-LLM perf metrics booked late", fakeserver.TRTLLMPerfMetrics, func(u string) Target { return trtllm.Endpoint(u) }, "perf-metrics", true, 50 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := fakeserver.StartTimed(t, fakeserver.Timed{Dialect: tc.dialect, Slots: 2, Prefill: 3 * time.Millisecond, ITL: time.Millisecond, Cached: 32, MetricsLag: tc.lag})
			var res *Result
			capture(t, nil, func(tb testing.TB) {
				res = Run(tb, Case{Target: tc.target(srv.URL), Workload: fixtures.Synthetic{ISL: 64, OSL: 4, Prompts: 12, Seed: 1, Vocab: 32000},
					Load: Concurrency(4), Count: 2, Warmup: -1})
			})
			require.NotNil(t, res)
			assert.Equal(t, tc.source, res.ConfigValue(metric.KeyServerTiming))
			truth := srv.Truth()
			queued := 0
			for _, rep := range res.Reps {
				for _, r := range rep.Records {
					require.Equal(t, OK, r.Outcome, r.Error)
					tm, ok := truth[r.ResponseID]
					require.True(t, ok, "request %d: stream id %q", r.Index, r.ResponseID)
					s := r.Server
					require.NotNil(t, s, "request %d", r.Index)
					assert.Equal(t, tc.source, s.Source)
					within(t, "prefill", tm.Prefill, s.Prefill)
					within(t, "decode", tm.Decode, s.Decode)
					if tc.queue {
						within(t, "queue", tm.Queue, s.Queue)
						if s.Queue > time.Millisecond {
							queued++
						}
					} else {
						assert.Zero(t, s.Queue, "llama.cpp tells no queue time")
						assert.Equal(t, tm.Cached, s.CachedTokens)
					}
				}
				names := units(rep)
				assert.Contains(t, names, metric.Part(metric.TTFTP90, metric.PhasePrefill))
				assert.Equal(t, tc.queue, slices.Contains(names, metric.Part(metric.TTFTP90, metric.PhaseQueue)))
			}
			if tc.queue {
				assert.Positive(t, queued, "4 streams against 2 slots: requests queued")
			}
		})
	}
}

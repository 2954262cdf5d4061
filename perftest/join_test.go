package perftest

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/backends/mock"
	"github.com/perfgate/perfgate/fixtures"
	"github.com/perfgate/perfgate/perftest/metric"
)

// joinCase is a shared-prefix case at 64 concurrent streams: requests queue (the
// simulator admits 32 at a time), hit the prefix cache and decode in batches.
func joinCase(target Target) Case {
	return Case{Target: target, Workload: fixtures.SharedPrefix{ISL: 512, OSL: 24, PrefixRatio: 0.5, Prompts: 256, Seed: 3},
		Load: Concurrency(64), Count: 2, Warmup: -1}
}

// truthByTrace indexes the simulator's truth by the trace id the client sent.
func truthByTrace(t *testing.T, srv *mock.Server) map[string]mock.RequestTiming {
	t.Helper()
	m := map[string]mock.RequestTiming{}
	for _, tm := range srv.Timings() {
		require.NotEmpty(t, tm.TraceID, "every request came with a traceparent")
		m[tm.TraceID] = tm
	}
	return m
}

// within checks that got is want within 1 ms.
func within(t *testing.T, what string, want, got time.Duration) bool {
	t.Helper()
	return assert.InDelta(t, want.Seconds(), got.Seconds(), 1e-3, "%s: the join says %v, the simulator's truth is %v", what, got, want)
}

// TestSpansJoinToTheTruth: the simulator exports vLLM's llm_request span for every request
// to the receiver the session runs, continuing the client's traceparent; joined by trace
// id, every request's queue, prefill, decode, TTFT and E2E agree with the simulator's
// truth within 1 ms at 64 concurrent streams, and the parts of the latencies add up.
func TestSpansJoinToTheTruth(t *testing.T) {
	srv := mock.Start(t, mock.Config{SpeedupRatio: 20, MaxNumSeqs: 32, OTLPTracesEndpoint: "http://127.0.0.1:0/v1/traces", KeepTimings: true})
	require.Contains(t, srv.MetricNames(), "otlp-traces")
	res := Run(t, joinCase(srv))
	truth := truthByTrace(t, srv)
	assert.Equal(t, "otlp", res.ConfigValue(metric.KeyServerTiming))
	queued := 0
	for _, rep := range res.Reps {
		for _, r := range rep.Records {
			require.Equal(t, OK, r.Outcome, r.Error)
			tm, ok := truth[r.TraceID]
			require.True(t, ok, "request %d: trace %s unknown to the simulator", r.Index, r.TraceID)
			s := r.Server
			require.NotNil(t, s, "request %d: no span joined", r.Index)
			assert.Equal(t, "otlp", s.Source)
			ok = within(t, "queue", tm.Queue(), s.Queue) && within(t, "prefill", tm.Prefill(), s.Prefill) &&
				within(t, "decode", tm.Decode(), s.Decode) && within(t, "ttft", tm.FirstToken.Sub(tm.Arrival), s.TTFT) &&
				within(t, "e2e", tm.Finished.Sub(tm.Arrival), s.E2E)
			if !ok {
				t.Fatalf("request %d of trace %s is joined to the wrong span or misread", r.Index, r.TraceID)
			}
			assert.Equal(t, tm.PromptTokens, s.PromptTokens)
			assert.Equal(t, tm.OutputTokens, s.OutputTokens)
			// Same host, same clock: the first token reached the client after the server
			// made it, and well within the request's TTFT.
			assert.True(t, s.Wall)
			assert.GreaterOrEqual(t, s.Transit, -time.Millisecond, "request %d", r.Index)
			assert.Less(t, s.Transit, r.TTFT())
			if tm.Queue() > 0 {
				queued++
			}
			require.NotNil(t, r.Client)
			assert.LessOrEqual(t, r.Sent, r.Client.Wrote)
			assert.LessOrEqual(t, r.Client.Wrote, r.Client.FirstByte)
			assert.LessOrEqual(t, r.Client.FirstByte, r.FirstToken)
		}
		checkParts(t, rep)
	}
	assert.Positive(t, queued, "64 streams against 32 seats: requests queued")
}

// checkParts: every part-* of TTFT and E2E is there, and they add up to a latency close to
// the percentile they explain.
func checkParts(t *testing.T, rep Repetition) {
	t.Helper()
	got := map[string]float64{}
	for _, m := range rep.Metrics {
		got[m.Unit] = m.Value
	}
	for _, l := range partedLatencies {
		sum := 0.0
		for _, ph := range metric.Phases {
			v, ok := got[metric.Part(l.name, ph)]
			want := ph != metric.PhaseDecode && ph != metric.PhaseTransit || ph == metric.PhaseDecode && l.e2e || ph == metric.PhaseTransit && !l.e2e
			assert.Equal(t, want, ok, "%s: part %s", l.name, ph)
			sum += v
		}
		p := got[l.name]
		assert.InEpsilon(t, p, sum, 0.25, "%s: the parts add up to %.4fs, the percentile is %.4fs", l.name, sum, p)
		assert.False(t, math.IsNaN(sum))
	}
}

// TestTimingsJoinToTheTruth: a server that puts llama.cpp's timings on its stream and
// exports no spans gives every request its prefill and decode, equal to the truth.
func TestTimingsJoinToTheTruth(t *testing.T) {
	srv := mock.Start(t, mock.Config{SpeedupRatio: 20, MaxNumSeqs: 32, KeepTimings: true, Dialect: mock.Dialect{Timings: true, UsageWithLastChoice: true}})
	res := Run(t, joinCase(srv))
	truth := truthByTrace(t, srv)
	assert.Equal(t, "timings", res.ConfigValue(metric.KeyServerTiming))
	for _, rep := range res.Reps {
		for _, r := range rep.Records {
			tm := truth[r.TraceID]
			s := r.Server
			require.NotNil(t, s, "request %d", r.Index)
			assert.Equal(t, "timings", s.Source)
			within(t, "prefill", tm.Prefill(), s.Prefill)
			within(t, "decode", tm.Decode(), s.Decode)
			assert.Equal(t, tm.CachedTokens, s.CachedTokens)
			assert.Equal(t, tm.PromptTokens, s.PromptTokens)
			assert.False(t, s.Wall, "timings carry no wall clock")
		}
		names := units(rep)
		assert.Contains(t, names, metric.Part(metric.TTFTP90, metric.PhasePrefill))
		assert.NotContains(t, names, metric.Part(metric.TTFTP90, metric.PhaseQueue), "llama.cpp's timings have no queue time")
		assert.NotContains(t, names, metric.Part(metric.TTFTP90, metric.PhaseTransit))
	}
}

// TestHistogramsOnly: without spans or timings, the server's histograms split its time per
// repetition, and the result says that is all there is.
func TestHistogramsOnly(t *testing.T) {
	srv := mock.Start(t, mock.Config{SpeedupRatio: 20, MaxNumSeqs: 32})
	c := capture(t, nil, func(tb testing.TB) {
		res := Run(tb, joinCase(srv))
		assert.Equal(tb, "histograms", res.ConfigValue(metric.KeyServerTiming))
		for _, rep := range res.Reps {
			names := units(rep)
			for _, m := range []string{metric.ServerQueueMean, metric.ServerPrefillMean, metric.ServerDecodeMean, metric.ServerInferenceMean,
				metric.Part(metric.TTFTP90, metric.PhaseLag), metric.Part(metric.TTFTP90, metric.PhaseRest)} {
				assert.Contains(tb, names, m)
			}
			assert.NotContains(tb, names, metric.Part(metric.TTFTP90, metric.PhaseQueue))
		}
	})
	assert.Equal(t, 1, strings.Count(c.logged(), "latencies are split by the server's histograms only"))
}

// TestNoSpansArrive: a target that says it exports spans and sends none is said once, and
// the result falls back to the histograms.
func TestNoSpansArrive(t *testing.T) {
	srv := mock.Start(t, mock.Config{SpeedupRatio: 20})
	c := capture(t, nil, func(tb testing.TB) {
		res := Run(tb, Case{Target: tracesTo{srv, "127.0.0.1:0"}, Workload: small, Load: Concurrency(2), Count: 2})
		assert.Equal(tb, "histograms", res.ConfigValue(metric.KeyServerTiming))
	})
	assert.Equal(t, 1, strings.Count(c.logged(), "no OTLP spans arrived at 127.0.0.1:"))
}

// tracesTo is a target that claims to export spans to addr.
type tracesTo struct {
	*mock.Server
	addr string
}

func (t tracesTo) MetricNames() map[string]string {
	m := t.Server.MetricNames()
	m["otlp-traces"] = t.addr
	return m
}

func units(rep Repetition) []string {
	var u []string
	for _, m := range rep.Metrics {
		u = append(u, m.Unit)
	}
	return u
}

// TestSessionsShareAReceiver: two sessions of one target that exports spans (an A/A
// comparison) share its receiver, and each joins its own requests.
func TestSessionsShareAReceiver(t *testing.T) {
	srv := mock.Start(t, mock.Config{SpeedupRatio: 20, OTLPTracesEndpoint: "http://127.0.0.1:0/v1/traces"})
	c := Case{Target: srv, Workload: small, Load: Concurrency(2), Count: 4, Warmup: -1}
	ra, rb, err := RunAB(t.Context(), c, srv, srv, ExecOptions{})
	require.NoError(t, err)
	for _, res := range []*Result{ra, rb} {
		assert.Equal(t, "otlp", res.ConfigValue(metric.KeyServerTiming))
	}
	receivers.mu.Lock()
	defer receivers.mu.Unlock()
	assert.Empty(t, receivers.byAddr, "the receiver is closed with the last session")
}

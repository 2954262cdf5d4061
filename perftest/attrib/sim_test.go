package attrib_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/backends/mock"
	"github.com/perfgate/perfgate/fixtures"
	"github.com/perfgate/perfgate/perftest"
	"github.com/perfgate/perfgate/perftest/attrib"
	"github.com/perfgate/perfgate/perftest/gate"
	"github.com/perfgate/perfgate/perftest/metric"
	"github.com/perfgate/perfgate/perftest/resultfile"
)

// proxied is a simulator reached through a delaying proxy: the requests go through it, the
// metrics scrapes and cache resets straight to the server.
type proxied struct {
	*mock.Server
	url string
}

func (p proxied) BaseURL() string { return p.url }

// prefixCase is a small shared-prefix case: prompts of 2048 tokens whose first 90% the
// prefix cache serves, 8 output tokens, 12 requests a second (an open loop, so that a
// slower network does not move the arrivals against the server's steps), 16 a repetition,
// six repetitions a side, so that the gate can flag a metric.
func prefixCase(target perftest.Target) perftest.Case {
	return perftest.Case{Name: "PerfPrefix", Target: target, Workload: fixtures.SharedPrefix{ISL: 2048, OSL: 8, PrefixRatio: 0.9, Prompts: 16, Seed: 5},
		Load: perftest.Rate(12), Count: 6, Warmup: -1, MaxScheduleLag: 50 * time.Millisecond}
}

// kvCase sends 8 requests of 128 prompt and 32 output tokens at once, 80 blocks of KV cache
// at their longest, to a simulator 4 times an H100's speed. Six repetitions a side, so
// that the gate can flag a metric.
func kvCase(target perftest.Target) perftest.Case {
	return perftest.Case{Name: "PerfSmallKV", Target: target, Workload: fixtures.SharedPrefix{ISL: 128, OSL: 32, Prompts: 8, Seed: 5},
		Load: perftest.Concurrency(8), Count: 6, Warmup: -1}
}

// simConfig is the simulator at an H100's speed exporting vLLM's spans, so that the
// server's queue and prefill are known per request.
func simConfig() mock.Config {
	return mock.Config{OTLPTracesEndpoint: "http://127.0.0.1:0/v1/traces"}
}

// runSim runs a case against a simulator of cfg, through a proxy delaying each way by delay
// when delay > 0, and returns its result file.
func runSim(t *testing.T, cfg mock.Config, delay time.Duration, mk func(perftest.Target) perftest.Case) *resultfile.File {
	t.Helper()
	return runResult(t, cfg, delay, mk).File()
}

func runResult(t *testing.T, cfg mock.Config, delay time.Duration, mk func(perftest.Target) perftest.Case) *perftest.Result {
	t.Helper()
	srv := mock.Start(t, cfg)
	var target perftest.Target = srv
	if delay > 0 {
		p := startDelayProxy(t, strings.TrimPrefix(srv.BaseURL(), "http://"), delay)
		target = proxied{srv, "http://" + p.Addr()}
	}
	c := &captureTB{TB: t}
	res := perftest.Run(c, mk(target))
	if err := res.File().Healthy(); err != nil && strings.Contains(c.msg, "MaxScheduleLag") {
		t.Skipf("this machine is too busy to attribute a change of milliseconds: the client sent its requests late (%v):\n%s", err, c.msg)
	}
	if slices.Contains(res.File().Values(metric.MachineLate), 1) {
		t.Skipf("this machine is too busy to attribute a change of milliseconds: repetitions went out later than the case's schedule-lag limit:\n%s", c.msg)
	}
	if c.msg != "" {
		t.Fatal(c.msg)
	}
	return res
}

func skipUnderRace(t *testing.T) {
	if perftest.RaceEnabled {
		t.Skip("the race detector slows the client by more than the changes these tests attribute: its noise, not the injected cause, would decide the shares")
	}
}

// attributed checks that the change of latency is attributed to cause with at least 70% of
// it, the cause's interval clear of 0.
func attributed(t *testing.T, base, cur *resultfile.File, latency, cause string) *attrib.Attribution {
	t.Helper()
	a, ok := attrib.Attribute(base, cur, latency)
	require.True(t, ok, "%s: no parts to attribute with", latency)
	t.Log(a.String())
	c, ok := a.Cause(cause)
	require.True(t, ok, "%s: no %s part", latency, cause)
	assert.True(t, c.Moved, "%s: %s moved by %.4fs, not beyond its noise [%.4f, %.4f]", latency, cause, c.Shift, c.Lo, c.Hi)
	assert.GreaterOrEqual(t, a.Share(cause), 0.7, "%s: %s takes %.0f%% of the change", latency, cause, 100*a.Share(cause))
	return &a
}

// TestInjectedRegressions: on the simulator, each regression injected alone is attributed
// to its cause with at least 70% of the change of the median TTFT (and E2E): a 30% slower
// prefill to prefill, a 5 ms network delay each way to the network, a prefix cache switched
// off to prefill, with the prefix hit ratio named first; an A/A run moves no cause beyond
// its noise at the median or the 90th percentile.
func TestInjectedRegressions(t *testing.T) {
	skipUnderRace(t)
	base := runSim(t, simConfig(), 0, prefixCase)
	t.Run("A/A", func(t *testing.T) {
		cur := runSim(t, simConfig(), 0, prefixCase)
		for _, l := range []string{metric.TTFTP50, metric.TTFTP90, metric.E2EP50, metric.E2EP90} {
			a, ok := attrib.Attribute(base, cur, l)
			require.True(t, ok)
			t.Log(a.String())
			for _, c := range a.Causes {
				assert.False(t, c.Moved, "%s: %s moved by %.4fs [%.4f, %.4f] in an A/A run", l, c.Name, c.Shift, c.Lo, c.Hi)
			}
			assert.Empty(t, a.Figures, "%s: server figures moved in an A/A run", l)
		}
	})
	t.Run("slower prefill", func(t *testing.T) {
		cfg := simConfig()
		cfg.Profile = mock.DefaultProfile().Scaled(1.3, 1)
		cur := runSim(t, cfg, 0, prefixCase)
		attributed(t, base, cur, metric.TTFTP50, attrib.Prefill)
	})
	t.Run("network delay", func(t *testing.T) {
		cur := runSim(t, simConfig(), 5*time.Millisecond, prefixCase)
		attributed(t, base, cur, metric.TTFTP50, attrib.Network)
		attributed(t, base, cur, metric.E2EP50, attrib.Network)
	})
	t.Run("broken prefix cache", func(t *testing.T) {
		cfg := simConfig()
		cfg.DisablePrefixCaching = true
		res := runResult(t, cfg, 0, prefixCase)
		a := attributed(t, base, res.File(), metric.TTFTP50, attrib.Prefill)
		require.NotEmpty(t, a.Figures)
		assert.Equal(t, metric.ServerPrefixHitRatio, a.Figures[0].Unit, "the prefix hit ratio is the first suspect")
		assert.Greater(t, a.Figures[0].Base, 0.5)
		assert.Zero(t, a.Figures[0].Cur)
		msg := gateMessage(t, base, res)
		assert.Regexp(t, `(regressed|INCONCLUSIVE) against .*\nwhy:\n  cache: the runs' cache states differ: prefix hit ratio 0\.\d+ \(as designed, 0\.\d+\) in the baseline, 0 \(nothing cached .*\n  ttft-p50-sec \+.*: prefill \+`, msg)
		assert.Regexp(t, `\n  server: prefix hit ratio 0\.\d+ → 0 \(first suspect`, msg)
		if dir := os.Getenv("PERFGATE_ATTRIB_TESTDATA"); dir != "" {
			// The gate's and perfgate compare's golden tests read these two.
			require.NoError(t, base.WriteFile(filepath.Join(dir, "prefix-cached.txt")))
			require.NoError(t, res.File().WriteFile(filepath.Join(dir, "prefix-uncached.txt")))
		}
	})
}

// TestHistogramAttribution: a server that sends no per-request timing (no spans, no
// timings) gets histogram-level attribution, which says so: a 30% slower prefill is still
// the prefill's, by the server's histogram means.
func TestHistogramAttribution(t *testing.T) {
	skipUnderRace(t)
	base := runSim(t, mock.Config{}, 0, prefixCase)
	assert.Equal(t, "histograms", base.ConfigValue(metric.KeyServerTiming))
	cur := runSim(t, mock.Config{Profile: mock.DefaultProfile().Scaled(1.3, 1)}, 0, prefixCase)
	a := attributed(t, base, cur, metric.TTFTP50, attrib.Prefill)
	assert.True(t, a.Histograms)
	assert.Contains(t, a.String(), "split by its histograms")
	_, perRequest := a.Cause(attrib.Network)
	assert.False(t, perRequest, "without the server's own account of each request its rest is not the network's")
}

// gateMessage gates res against base, written as its baseline, and returns what the gate
// failed (or skipped) the test with.
func gateMessage(t *testing.T, base *resultfile.File, res *perftest.Result) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), res.Name+".txt")
	require.NoError(t, base.WriteFile(path))
	c := &captureTB{TB: t}
	res.Gate(c, path)
	t.Logf("the gate's message:\n%s", c.msg)
	return c.msg
}

// TestSmallKVCache: a KV cache too small for the running requests makes them wait for
// blocks and be preempted; the change of the median TTFT is attributed to the queue, the
// preemptions are named, and the gate's failure message says so.
func TestSmallKVCache(t *testing.T) {
	skipUnderRace(t)
	cfg := simConfig()
	cfg.SpeedupRatio = 4
	base := runSim(t, cfg, 0, kvCase)
	cfg.NumGPUBlocks = 28
	res := runResult(t, cfg, 0, kvCase)
	a := attributed(t, base, res.File(), metric.TTFTP50, attrib.Queue)
	assert.Contains(t, units(a.Figures), metric.ServerPreemptions)

	msg := gateMessage(t, base, res)
	assert.Regexp(t, `(regressed|INCONCLUSIVE) against .*\nwhy:\n  ttft-p50-sec \+.*: queue \+`, msg)
	assert.Regexp(t, `\n  server: preemptions 0 → [1-9]`, msg)
}

// captureTB keeps what the gate fails or skips with, without failing or skipping the test.
type captureTB struct {
	testing.TB
	msg string
}

func (c *captureTB) Errorf(format string, args ...any) { c.msg += fmt.Sprintf(format, args...) + "\n" }
func (c *captureTB) Skipf(format string, args ...any)  { c.msg += fmt.Sprintf(format, args...) + "\n" }

func units(fs []attrib.Figure) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Unit)
	}
	return out
}

// fidelityCase is a quick shared-prefix case, one request at a time: 4 prefixes of 256
// tokens (16 blocks) under prompts of 512, 16 prompts, three repetitions.
func fidelityCase(target perftest.Target) perftest.Case {
	return perftest.Case{Name: "PerfFidelity", Target: target,
		Workload: fixtures.SharedPrefix{ISL: 512, OSL: 4, PrefixRatio: 0.5, NumPrefixes: 4, Prompts: 16, Seed: 7},
		Load:     perftest.Concurrency(1), Count: 3, Warmup: -1}
}

// noReset is a simulator whose prefix cache the runner cannot empty.
type noReset struct{ srv *mock.Server }

func (n noReset) BaseURL() string                { return n.srv.BaseURL() }
func (n noReset) MetricsURL() string             { return n.srv.MetricsURL() }
func (n noReset) MetricNames() map[string]string { return n.srv.MetricNames() }
func (n noReset) Describe() map[string]string    { return n.srv.Describe() }

func fidelityOf(t *testing.T, f *resultfile.File) attrib.Fidelity {
	t.Helper()
	fid, err := attrib.ParseFidelity(f.ConfigValue(metric.KeyCacheFidelity))
	require.NoError(t, err)
	t.Logf("%s: %s; measured per repetition %v", metric.KeyCacheFidelity, fid, f.Values(metric.ServerPrefixHitRatio))
	return fid
}

// TestCacheFidelity: the result records the prefix hit ratio the workload was designed to
// give beside the one the server measured; against the simulator they agree within a block
// per prompt in every repetition. A run whose cache the runner cannot empty, and one whose
// cache is smaller than the working set, are recorded as off the design, and comparing
// either with the first says so before the latency table.
func TestCacheFidelity(t *testing.T) {
	cfg := mock.Config{SpeedupRatio: 10}
	base := runSim(t, cfg, 0, fidelityCase)
	fid := fidelityOf(t, base)
	// 12 of 16 prompts find their prefix's 16 blocks: 12 x 256 / (16 x 512).
	assert.InDelta(t, 0.375, fid.Designed, 1e-9)
	assert.Equal(t, attrib.Fidelity{Designed: fid.Designed, Block: 16, Min: fid.Min, Max: fid.Max, Off: 0, Reps: 3}, fid)
	for _, m := range base.Values(metric.ServerPrefixHitRatio) {
		assert.InDelta(t, fid.Designed, m, 16.0/512, "within one block per prompt")
	}
	assert.Empty(t, attrib.CacheStates(base, base))

	for _, tc := range []struct {
		name   string
		target func(*mock.Server) perftest.Target
		cfg    mock.Config
		above  bool
	}{
		{"no cache reset", func(s *mock.Server) perftest.Target { return noReset{s} }, cfg, true},
		{"cache smaller than the working set", func(s *mock.Server) perftest.Target { return s }, mock.Config{SpeedupRatio: 10, NumGPUBlocks: 40}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cur := perftest.Run(t, fidelityCase(tc.target(mock.Start(t, tc.cfg)))).File()
			f := fidelityOf(t, cur)
			assert.Positive(t, f.Off)
			if tc.above {
				assert.Greater(t, f.Max, f.Designed)
			} else {
				assert.Less(t, f.Min, f.Designed)
			}
			rep := gate.Compare(base, cur, perftest.GateOptions(0, 0))
			var b strings.Builder
			require.NoError(t, rep.WriteText(&b))
			t.Log(b.String())
			assert.True(t, strings.HasPrefix(b.String(), "cache: the runs' cache states differ: "), "said before the table")
		})
	}
}

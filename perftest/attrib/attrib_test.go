package attrib

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/perftest/metric"
	"github.com/perfgate/perfgate/perftest/resultfile"
)

// file builds a result file of n repetitions; rep(i) gives repetition i's values.
func file(n int, rep func(i int) map[string]float64) *resultfile.File {
	f := &resultfile.File{Path: "mem", Name: "PerfX"}
	for i := range n {
		var r resultfile.Rep
		for u, v := range rep(i) {
			r.Metrics = append(r.Metrics, resultfile.Metric{Unit: u, Value: v})
			if !containsUnit(f.Units, u) {
				f.Units = append(f.Units, u)
			}
		}
		f.Reps = append(f.Reps, r)
	}
	return f
}

func containsUnit(us []string, u string) bool {
	for _, x := range us {
		if x == u {
			return true
		}
	}
	return false
}

// ttft is a repetition of a TTFT p90 of the given phases (ms), with jitter j (ms) on the
// lag, and the percentile off the band's mean by off (ms).
func ttft(phases map[string]float64, j, off float64) map[string]float64 {
	m := map[string]float64{}
	sum := 0.0
	for ph, ms := range phases {
		if ph == metric.PhaseLag {
			ms += j
		}
		m[metric.Part(metric.TTFTP90, ph)] = ms / 1e3
		sum += ms
	}
	m[metric.TTFTP90] = (sum + off) / 1e3
	return m
}

var jitter = []float64{0.1, -0.2, 0.15, -0.05, 0, 0.12, -0.1, 0.03}

func TestAttributeSplitsAQueueRegression(t *testing.T) {
	ph := func(queue float64) map[string]float64 {
		return map[string]float64{metric.PhaseLag: 0.5, metric.PhaseConnect: 0, metric.PhaseSend: 0.1, metric.PhaseQueue: queue,
			metric.PhasePrefill: 20, metric.PhaseTransit: 0.3, metric.PhaseRest: 1}
	}
	base := file(8, func(i int) map[string]float64 { return ttft(ph(2+jitter[i]), jitter[7-i], 0.2) })
	cur := file(8, func(i int) map[string]float64 {
		m := ttft(ph(21+jitter[i]), jitter[i], 0.2)
		m[metric.ServerPreemptions] = 31
		return m
	})
	for i := range base.Reps {
		base.Reps[i].Metrics = append(base.Reps[i].Metrics, resultfile.Metric{Unit: metric.ServerPreemptions, Value: 0})
	}
	a, ok := Attribute(base, cur, metric.TTFTP90)
	require.True(t, ok)
	assert.InDelta(t, 0.019, a.Change, 1e-6)
	assert.InDelta(t, 1, a.Share(Queue), 0.01)
	q, _ := a.Cause(Queue)
	assert.True(t, q.Moved)
	assert.Less(t, q.Lo, q.Shift)
	assert.Greater(t, q.Hi, q.Shift)
	for _, c := range a.Causes {
		if c.Name != Queue {
			assert.False(t, c.Moved, c.Name)
		}
	}
	names := []string{}
	for _, c := range a.Causes {
		names = append(names, c.Name)
	}
	assert.Equal(t, []string{Client, Queue, Prefill, Network, Unexplained}, names, "no decode for TTFT; the rest is the network's where the server splits its time per request")
	n, _ := a.Cause(Network)
	assert.InDelta(t, 0.0013, n.Base, 1e-9, "transit and rest")
	u, _ := a.Cause(Unexplained)
	assert.InDelta(t, 0.0002, u.Base, 1e-9, "the percentile above the band's mean")
	sum := 0.0
	for _, c := range a.Causes {
		sum += c.Shift
	}
	assert.InDelta(t, a.Change, sum, 1e-12, "the shifts add up to the change")
	require.Len(t, a.Figures, 1)
	assert.Equal(t, Figure{metric.ServerPreemptions, 0, 31}, a.Figures[0])
	s := a.String()
	assert.Regexp(t, `^ttft-p90-sec \+19\.0ms \(\+\d+%\): queue \+19\.0ms ±[0-9.]+µs; within noise: client [-+]\d+µs, prefill \+0µs, network \+0µs, unexplained \+0µs; server: preemptions 0 → 31$`, s)
}

func TestAttributeNeedsParts(t *testing.T) {
	f := file(5, func(int) map[string]float64 { return map[string]float64{metric.TTFTP90: 0.02} })
	_, ok := Attribute(f, f, metric.TTFTP90)
	assert.False(t, ok)
	one := file(1, func(int) map[string]float64 { return ttft(map[string]float64{metric.PhaseRest: 20}, 0, 0) })
	_, ok = Attribute(one, one, metric.TTFTP90)
	assert.False(t, ok, "one repetition has no spread")
}

// TestPhaseOnOneSide: a phase only one side has counts in that side's rest, so that both
// split alike (a baseline recorded without spans, a run with them).
func TestPhaseOnOneSide(t *testing.T) {
	base := file(5, func(i int) map[string]float64 {
		return ttft(map[string]float64{metric.PhaseLag: 1, metric.PhaseRest: 22 + jitter[i]}, 0, 0)
	})
	cur := file(5, func(i int) map[string]float64 {
		return ttft(map[string]float64{metric.PhaseLag: 1, metric.PhaseQueue: 2, metric.PhasePrefill: 25 + jitter[i], metric.PhaseRest: 1}, 0, 0)
	})
	a, ok := Attribute(base, cur, metric.TTFTP90)
	require.True(t, ok)
	_, hasQueue := a.Cause(Queue)
	assert.False(t, hasQueue)
	r, _ := a.Cause(Rest)
	assert.InDelta(t, 0.006, r.Shift, 1e-6, "the current run's queue, prefill and rest against the baseline's rest")
	assert.True(t, r.Moved)
	assert.InDelta(t, 1, a.Share(Rest), 1e-6)
}

// TestHistograms: without a per-request source the server's histogram means split its part
// of the rest, and the text says so.
func TestHistograms(t *testing.T) {
	rep := func(queue float64) func(i int) map[string]float64 {
		return func(i int) map[string]float64 {
			m := ttft(map[string]float64{metric.PhaseLag: 1, metric.PhaseRest: 25 + queue + jitter[i]}, 0, 0)
			m[metric.ServerQueueMean] = (queue + jitter[i]) / 1e3
			m[metric.ServerPrefillMean] = 20.0 / 1e3
			return m
		}
	}
	a, ok := Attribute(file(6, rep(1)), file(6, rep(11)), metric.TTFTP90)
	require.True(t, ok)
	assert.True(t, a.Histograms)
	assert.InDelta(t, 1, a.Share(Queue), 1e-6)
	p, _ := a.Cause(Prefill)
	assert.InDelta(t, 0.020, p.Base, 1e-9)
	assert.Contains(t, a.String(), "split by its histograms")
}

func TestWelchInterval(t *testing.T) {
	// Two samples of 5 with sd 1, means 0 and 2: the 95% Welch interval is 2 ± 2.306 x
	// sqrt(2/5) (8 degrees of freedom).
	base := [][]float64{{-1.2649}, {-0.6325}, {0}, {0.6325}, {1.2649}}
	cur := [][]float64{{0.7351}, {1.3675}, {2}, {2.6325}, {3.2649}}
	lo, hi := welch(base, cur, 1, 0.05)
	h := 2.306 * math.Sqrt(2.0/5)
	assert.InDelta(t, 2-h, lo[0], 2e-3)
	assert.InDelta(t, 2+h, hi[0], 2e-3)
	assert.InDelta(t, 1.96, tQuantile(1e6, 0.975), 1e-3)
}

func TestFormat(t *testing.T) {
	for v, want := range map[float64]string{0.0190: "+19.0ms", -1.25: "-1.25s", 0.00082: "+820µs", 0.0042: "+4.20ms"} {
		assert.Equal(t, want, fmtSec(v))
	}
	assert.Equal(t, "31", fmtNum(31))
	assert.Equal(t, "0.94", fmtNum(0.94))
}

func TestFidelity(t *testing.T) {
	f := NewFidelity(0.842, 16, 2048, []float64{0.842, 0.898, 0.845})
	assert.Equal(t, Fidelity{Designed: 0.842, Block: 16, Min: 0.842, Max: 0.898, Off: 1, Reps: 3}, f, "0.845 is within a block of 2048 tokens (0.0078)")
	assert.Equal(t, "designed=0.842,block=16,measured=0.842..0.898,off=1/3", f.String())
	got, err := ParseFidelity(f.String())
	require.NoError(t, err)
	assert.Equal(t, f, got)
	for _, bad := range []string{"", "designed=x,block=16,measured=0..1,off=0/1", "designed=0.5,block=16,measured=0.5,off=0/1", "designed=0.5,colour=red"} {
		_, err := ParseFidelity(bad)
		assert.ErrorContains(t, err, metric.KeyCacheFidelity, "%q", bad)
	}
}

func TestCacheStates(t *testing.T) {
	side := func(reset, fid string, ratio float64) *resultfile.File {
		f := file(3, func(int) map[string]float64 { return map[string]float64{metric.ServerPrefixHitRatio: ratio} })
		f.Config = []resultfile.KV{{Key: metric.KeyCacheReset, Value: reset}, {Key: metric.KeyCacheFidelity, Value: fid}}
		return f
	}
	ok := side("yes", "designed=0.842,block=16,measured=0.842..0.842,off=0/3", 0.842)
	assert.Empty(t, CacheStates(ok, ok))
	warm := side("unavailable", "designed=0.842,block=16,measured=0.842..0.898,off=2/3", 0.898)
	assert.Equal(t, "the runs' cache states differ: cache reset yes in the baseline, unavailable in the current run; prefix hit ratio 0.842 (as designed, 0.842) in the baseline, 0.898 (2 of 3 repetitions above the designed 0.842, up to 0.898: a cache not emptied before them) in the current run; a latency that moved with them is the cache's doing first",
		CacheStates(ok, warm))
	cold := side("yes", "designed=0.842,block=16,measured=0..0,off=3/3", 0)
	assert.Contains(t, CacheStates(ok, cold), "prefix hit ratio 0.842 (as designed, 0.842) in the baseline, 0 (nothing cached in 3 of 3 repetitions, designed 0.842: prefix caching off?) in the current run")
	small := side("yes", "designed=0.842,block=16,measured=0.5..0.6,off=3/3", 0.55)
	assert.Contains(t, CacheStates(ok, small), "0.55 (3 of 3 repetitions below the designed 0.842, down to 0.5: a cache too small for the working set, or prefixes scattered) in the current run")
	old := file(3, func(int) map[string]float64 { return map[string]float64{metric.ServerPrefixHitRatio: 0.842} })
	assert.Empty(t, CacheStates(old, ok), "a file from before cache fidelity, alike in its measured ratio")
}

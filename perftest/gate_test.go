package perftest

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/perf/benchfmt"
)

var testConfig = []KV{{"goos", "linux"}, {"backend", "mock"}, {"model", "m"}, {"workload", "synthetic"}, {"fingerprint", "abc"}, {"load", "concurrency=4"}}

// synthResult builds a result whose metrics are centre*(1+shift) with 1% noise.
func synthResult(seed uint64, n int, shift map[string]float64) *Result {
	rng := rand.New(rand.NewPCG(seed, 1))
	base := map[string]float64{"ttft-p50-sec": 0.020, "itl-p50-sec": 0.005, "e2e-p50-sec": 0.5, "req/s": 30, "error-rate": 0}
	units := []string{"ttft-p50-sec", "itl-p50-sec", "e2e-p50-sec", "req/s", "error-rate"}
	r := &Result{Name: "PerfX", Config: testConfig}
	for range n {
		var ms []Metric
		for _, u := range units {
			v := base[u] * (1 + shift[u]) * (1 + 0.01*rng.NormFloat64())
			ms = append(ms, Metric{u, v})
		}
		r.Reps = append(r.Reps, Repetition{Metrics: ms, Requests: 100})
	}
	return r
}

func TestCompareDetectsShift(t *testing.T) {
	base := synthResult(1, 10, nil).File()
	cur := synthResult(2, 10, map[string]float64{"itl-p50-sec": 0.20, "req/s": 0.10}).File()
	rep := Compare(base, cur, Options{})
	verdicts := map[string]Verdict{}
	for _, d := range rep.Deltas {
		verdicts[d.Unit] = d.Verdict
	}
	assert.Equal(t, Regression, verdicts["itl-p50-sec"])
	assert.Equal(t, Improvement, verdicts["req/s"], "more requests per second is better")
	assert.Equal(t, Unchanged, verdicts["ttft-p50-sec"])
	assert.Equal(t, Unchanged, verdicts["error-rate"])
	require.Len(t, rep.Regressions(), 1)
	d := rep.Regressions()[0]
	assert.InDelta(t, 0.20, d.Change, 0.02)
	assert.GreaterOrEqual(t, d.PAdj, d.P, "Holm never lowers a p-value")
}

func TestCompareIgnoresSmallOrInsignificant(t *testing.T) {
	base := synthResult(1, 10, nil).File()
	// 2% is significant with 1% noise but under the 3% default threshold.
	cur := synthResult(2, 10, map[string]float64{"itl-p50-sec": 0.02}).File()
	assert.Empty(t, Compare(base, cur, Options{}).Regressions())
	// The same change counts once the threshold is lowered.
	assert.Len(t, Compare(base, cur, Options{Threshold: 0.01}).Regressions(), 1)
	// Three samples a side can never reach significance: no verdict, but a warning.
	small := Compare(synthResult(1, 3, nil).File(), synthResult(2, 3, map[string]float64{"itl-p50-sec": 0.5}).File(), Options{})
	assert.Empty(t, small.Regressions())
	var sb strings.Builder
	require.NoError(t, small.WriteText(&sb))
	assert.Contains(t, sb.String(), "warnings:")
	assert.Contains(t, sb.String(), "NO CHANGE CAN BE SIGNIFICANT")
	for _, d := range small.Deltas {
		assert.True(t, math.IsInf(d.MDE, 1) || math.IsNaN(d.MDE), "%s: nothing is detectable with 3 a side", d.Unit)
	}
	assert.Contains(t, sb.String(), "none")
}

func TestCompareSampleSizeWarnings(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want string
	}{
		{3, "NO CHANGE CAN BE SIGNIFICANT"},
		{4, "a metric regressing alone (needs p < 0.01) cannot be detected"},
		{5, ""},
	} {
		rep := Compare(synthResult(1, tc.n, nil).File(), synthResult(2, tc.n, nil).File(), Options{})
		if tc.want == "" {
			assert.Empty(t, rep.Warnings, "n=%d", tc.n)
			continue
		}
		require.Len(t, rep.Warnings, 1, "n=%d", tc.n)
		assert.Contains(t, rep.Warnings[0], tc.want, "n=%d", tc.n)
	}
	// Four a side at alpha 0.05 with one metric: reachable (1/70 < 0.05).
	one := synthResult(1, 4, nil).File()
	one.Units = []string{"itl-p50-sec"}
	cur := synthResult(2, 4, map[string]float64{"itl-p50-sec": 0.5}).File()
	cur.Units = []string{"itl-p50-sec"}
	assert.Len(t, Compare(one, cur, Options{}).Regressions(), 1)
}

func TestCompareNoiseFloorRaisesThreshold(t *testing.T) {
	// A baseline with 20% run-to-run noise cannot resolve a 5% threshold.
	rng := rand.New(rand.NewPCG(7, 7))
	mk := func(shift float64) *ResultFile {
		rf := &ResultFile{Name: "X", Units: []string{"itl-p50-sec"}, Values: map[string][]float64{}, LowerBetter: map[string]bool{"itl-p50-sec": true}}
		for range 10 {
			rf.Values["itl-p50-sec"] = append(rf.Values["itl-p50-sec"], 0.005*(1+shift)*(1+0.2*rng.NormFloat64()))
		}
		return rf
	}
	d := Compare(mk(0), mk(0), Options{}).Deltas[0]
	assert.Equal(t, 0.05, d.ConfiguredThreshold)
	assert.Greater(t, d.NoiseFloor, 0.08)
	assert.Equal(t, d.NoiseFloor, d.Threshold)
	assert.Greater(t, d.MDE, d.Threshold, "the MDE includes the threshold and the noise")
	var sb strings.Builder
	require.NoError(t, Compare(mk(0), mk(0), Options{}).WriteText(&sb))
	assert.Contains(t, sb.String(), "* threshold raised to the baseline's noise floor")
}

func TestCompareMDE(t *testing.T) {
	// With 1% noise and 10 repetitions a side the MDE is a few percent, set by the
	// threshold; with 3 a side nothing is detectable.
	rep := Compare(synthResult(1, 10, nil).File(), synthResult(2, 10, nil).File(), Options{})
	for _, d := range rep.Deltas {
		if d.Unit == "error-rate" {
			assert.True(t, math.IsNaN(d.MDE), "a zero baseline has no relative MDE")
			continue
		}
		assert.Greater(t, d.MDE, d.Threshold, d.Unit)
		assert.Less(t, d.MDE, 0.06, d.Unit)
	}
	// The figure is deterministic.
	again := Compare(synthResult(1, 10, nil).File(), synthResult(2, 10, nil).File(), Options{})
	assert.Equal(t, rep.Deltas[0].MDE, again.Deltas[0].MDE)
}

func TestCompareDirectionalFamilies(t *testing.T) {
	// A big improvement in one metric does not make a regression in another easier to call:
	// regressions and improvements are separate Holm families.
	base := synthResult(1, 10, nil).File()
	cur := synthResult(2, 10, map[string]float64{"req/s": 0.3, "itl-p50-sec": 0.2}).File()
	rep := Compare(base, cur, Options{})
	require.Len(t, rep.Regressions(), 1)
	require.Len(t, rep.Improvements(), 1)
	for _, d := range rep.Deltas {
		assert.InDelta(t, d.P/2, min(d.P/2, d.PAdj), 1e-12, "PAdj is never below the one-sided p")
	}
}

func TestCompareErrorsFromZero(t *testing.T) {
	base := synthResult(1, 8, nil).File()
	cur := synthResult(2, 8, nil).File()
	for i := range cur.Values["error-rate"] {
		cur.Values["error-rate"][i] = 0.05
	}
	regs := Compare(base, cur, Options{}).Regressions()
	require.Len(t, regs, 1)
	assert.Equal(t, "error-rate", regs[0].Unit)
	assert.True(t, math.IsInf(regs[0].Change, 1))
}

func TestHolm(t *testing.T) {
	ds := []Delta{{P: 0.01}, {P: 0.04}, {P: 0.03}, {P: 0.5}}
	holm(ds)
	assert.InDeltaSlice(t, []float64{0.04, 0.09, 0.09, 0.5}, []float64{ds[0].PAdj, ds[1].PAdj, ds[2].PAdj, ds[3].PAdj}, 1e-12)
}

func TestResultRoundTrip(t *testing.T) {
	r := synthResult(1, 4, nil)
	var buf bytes.Buffer
	_, err := r.WriteTo(&buf)
	require.NoError(t, err)
	assert.Contains(t, buf.String(), "Unit req/s better=higher\n")
	assert.Contains(t, buf.String(), "Unit itl-p50-sec better=lower\n")
	// benchfmt (what benchstat uses) reads every line without a syntax error.
	br := benchfmt.NewReader(bytes.NewReader(buf.Bytes()), "r.txt")
	n := 0
	for br.Scan() {
		if se, ok := br.Result().(*benchfmt.SyntaxError); ok {
			t.Fatalf("benchfmt: %v", se)
		}
		if res, ok := br.Result().(*benchfmt.Result); ok {
			n++
			assert.Equal(t, "PerfX", res.Name.String())
			assert.Equal(t, "abc", res.GetConfig("fingerprint"))
		}
	}
	assert.Equal(t, 4, n)
	rf, err := ParseResults(&buf, "r.txt")
	require.NoError(t, err)
	assert.Equal(t, r.File().Values, rf.Values)
	assert.Equal(t, r.File().LowerBetter, rf.LowerBetter)
	assert.Empty(t, ConfigDiff(r.File(), rf))
}

func TestParseResultsErrors(t *testing.T) {
	good := "backend: mock\n\nUnit x-sec better=lower\n\nBenchmarkPerfX 10 1.5 x-sec 2 req/s\nBenchmarkPerfX 10 1.6 x-sec 2.1 req/s\n"
	for _, tc := range []struct{ name, in, want string }{
		{"bad value", strings.Replace(good, "1.6 x-sec", "1.6x x-sec", 1), "b.txt:6: "},
		{"truncated line", strings.Replace(good, " 2.1 req/s", " 2.", 1), "b.txt:6: "},
		{"line cut between fields", strings.Replace(good, " 2.1 req/s", "", 1), `b.txt:6: line ends with unit "x-sec" where the first result ends with "req/s"`},
		{"other case", strings.Replace(good, "BenchmarkPerfX 10 1.6", "BenchmarkPerfY 10 1.6", 1), `b.txt:6: benchmark "PerfY" differs`},
		{"config change", strings.Replace(good, "BenchmarkPerfX 10 1.6", "backend: vllm\nBenchmarkPerfX 10 1.6", 1), "b.txt:7: config lines change"},
		{"empty", "backend: mock\n", "b.txt: no benchmark result lines"},
		{"not finite", strings.Replace(good, "1.6 x-sec", "NaN x-sec", 1), "not finite"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseResults(strings.NewReader(tc.in), "b.txt")
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	rf, err := ParseResults(strings.NewReader(good), "b.txt")
	require.NoError(t, err)
	assert.Equal(t, map[string]bool{"x-sec": true, "req/s": false}, rf.LowerBetter)
}

func FuzzParseResults(f *testing.F) {
	var buf bytes.Buffer
	_, _ = synthResult(1, 3, nil).WriteTo(&buf)
	f.Add(buf.Bytes())
	f.Add([]byte("key: v\nBenchmarkA 1 2 ns/op\nBenchmarkA 1 x ns/op\n"))
	f.Add([]byte("Unit a better=higher\nBenchmarkA/b=1 3 4 a\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		rf, err := ParseResults(bytes.NewReader(in), "fuzz.txt")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.txt") && !strings.Contains(err.Error(), "fuzz.txt") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		for _, u := range rf.Units {
			if len(rf.Values[u]) == 0 {
				t.Fatalf("unit %s listed without values", u)
			}
		}
		_ = Compare(rf, rf, Options{})
	})
}

func writeBaseline(t *testing.T, r *Result) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "baselines", "cpu", "x.txt")
	*flagUpdate = true
	c := capture(t, nil, func(tb testing.TB) { r.Gate(tb, path) })
	*flagUpdate = false
	require.Empty(t, c.errors())
	assert.Contains(t, c.logged(), "updated (10 repetitions)")
	return path
}

func TestGatePassesAndFails(t *testing.T) {
	path := writeBaseline(t, synthResult(1, 10, nil))

	pass := capture(t, nil, func(tb testing.TB) { synthResult(2, 10, nil).Gate(tb, path) })
	assert.Empty(t, pass.errors())
	assert.Contains(t, pass.logged(), "metric")
	assert.Contains(t, pass.logged(), "itl-p50-sec")

	fail := capture(t, nil, func(tb testing.TB) {
		synthResult(3, 10, map[string]float64{"itl-p50-sec": 0.2}).Gate(tb, path)
	})
	assert.False(t, fail.fatal)
	assert.Contains(t, fail.errors(), "PerfX regressed against")
	assert.Contains(t, fail.errors(), "itl-p50-sec +")
	assert.NotContains(t, fail.errors(), "ttft")
}

func TestGateMissingBaseline(t *testing.T) {
	c := capture(t, nil, func(tb testing.TB) { synthResult(1, 10, nil).Gate(tb, "testdata/nonexistent.txt") })
	assert.True(t, c.fatal)
	assert.Contains(t, c.errors(), "no baseline at testdata/nonexistent.txt: record one with `go test -run '^TestGateMissingBaseline$' -perf.update`")
}

func TestGateRefusesOtherSetup(t *testing.T) {
	path := writeBaseline(t, synthResult(1, 10, nil))
	other := synthResult(2, 10, nil)
	other.Config = append([]KV(nil), testConfig...)
	other.Config[4] = KV{"fingerprint", "def"}
	other.Config[0] = KV{"goos", "darwin"} // informational: not part of the diff
	c := capture(t, nil, func(tb testing.TB) { other.Gate(tb, path) })
	assert.True(t, c.fatal)
	msg := c.errors()
	assert.Contains(t, msg, "refusing to compare unlike runs")
	assert.Regexp(t, `(?m)^-.*"fingerprint": "abc"`, msg)
	assert.Regexp(t, `(?m)^\+.*"fingerprint": "def"`, msg)
	assert.NotContains(t, msg, "darwin")
}

func TestGateBadBaseline(t *testing.T) {
	path := writeBaseline(t, synthResult(1, 10, nil))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	lines := strings.Split(string(b), "\n")
	cut := lines[len(lines)-3]
	lines[len(lines)-3] = cut[:strings.Index(cut, " itl-p50-sec")] // cut: a value left without its unit
	require.NoError(t, os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o644))
	c := capture(t, nil, func(tb testing.TB) { synthResult(2, 10, nil).Gate(tb, path) })
	assert.True(t, c.fatal)
	assert.Contains(t, c.errors(), fmt.Sprintf("bad baseline: %s:%d:", path, len(lines)-2))
}

func TestGateUpdateIsAtomicAndReportsChange(t *testing.T) {
	path := writeBaseline(t, synthResult(1, 10, nil))
	setFlag(t, flagUpdate, true)
	c := capture(t, nil, func(tb testing.TB) {
		synthResult(2, 10, map[string]float64{"itl-p50-sec": 0.2}).Gate(tb, path)
	})
	assert.Empty(t, c.errors())
	assert.Contains(t, c.logged(), "new against old")
	assert.Contains(t, c.logged(), "REGRESSION")
	entries, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary or lock file left behind")
	rf, err := ReadResultFile(path)
	require.NoError(t, err)
	assert.Len(t, rf.Values["itl-p50-sec"], 10)
}

func TestGateConcurrentUpdates(t *testing.T) {
	path := writeBaseline(t, synthResult(1, 10, nil))
	done := make(chan *captureTB, 4)
	setFlag(t, flagUpdate, true)
	for i := range 4 {
		go func() {
			done <- capture(t, nil, func(tb testing.TB) { synthResult(uint64(10+i), 10, nil).Gate(tb, path) })
		}()
	}
	for range 4 {
		c := <-done
		assert.Empty(t, c.errors())
	}
	_, err := ReadResultFile(path)
	require.NoError(t, err, "the file is one writer's whole result, never a mix")
}

func TestGateAppendsMarkdownSummary(t *testing.T) {
	path := writeBaseline(t, synthResult(1, 10, nil))
	summary := filepath.Join(t.TempDir(), "summary.md")
	setFlag(t, flagSummary, summary)
	for i, shift := range []float64{0, 0.2} {
		c := capture(t, nil, func(tb testing.TB) {
			synthResult(uint64(2+i), 10, map[string]float64{"itl-p50-sec": shift}).Gate(tb, path)
		})
		assert.False(t, c.fatal)
	}
	md, err := os.ReadFile(summary)
	require.NoError(t, err)
	assert.Contains(t, string(md), "### perfgate: PerfX: no regression")
	assert.Contains(t, string(md), "### perfgate: PerfX: 1 metric regressed")
	assert.Contains(t, string(md), "| `itl-p50-sec` |")
}

func TestGateSkipsRaceBuildAgainstPlainBaseline(t *testing.T) {
	path := writeBaseline(t, synthResult(1, 10, nil))
	raced := synthResult(2, 10, nil)
	raced.Config = append(append([]KV(nil), testConfig...), KV{"race", "on"})
	c := capture(t, nil, func(tb testing.TB) { raced.Gate(tb, path) })
	assert.True(t, c.skipped)
	assert.Empty(t, c.errors())
	assert.Contains(t, c.logged(), "built with -race")
}

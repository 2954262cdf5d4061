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
	// 3% is significant with 1% noise but under the 5% threshold.
	cur := synthResult(2, 10, map[string]float64{"itl-p50-sec": 0.03}).File()
	assert.Empty(t, Compare(base, cur, Options{}).Regressions())
	// The same change counts once the threshold is lowered.
	assert.Len(t, Compare(base, cur, Options{Threshold: 0.01}).Regressions(), 1)
	// Three samples a side can never reach significance: no verdict, but a warning.
	small := Compare(synthResult(1, 3, nil).File(), synthResult(2, 3, map[string]float64{"itl-p50-sec": 0.5}).File(), Options{})
	assert.Empty(t, small.Regressions())
	var sb strings.Builder
	require.NoError(t, small.WriteText(&sb))
	assert.Contains(t, sb.String(), "warnings:")
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
		{"truncated line", strings.Replace(good, " 2.1 req/s", "", 1), "b.txt:6: units [x-sec] differ"},
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
		n := -1
		for _, u := range rf.Units {
			if n >= 0 && len(rf.Values[u]) != n {
				t.Fatalf("unit %s has %d values, others %d", u, len(rf.Values[u]), n)
			}
			n = len(rf.Values[u])
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
	lines[len(lines)-3] = lines[len(lines)-3][:len(lines[len(lines)-3])/2] // hand-truncated line
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

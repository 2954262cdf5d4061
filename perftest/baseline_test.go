package perftest

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/perftest/history"
	"github.com/perfgate/perfgate/perftest/internal/robust"
	"github.com/perfgate/perfgate/perftest/resultfile"
)

var testConfig = []resultfile.KV{{Key: "goos", Value: "linux"}, {Key: "hardware", Value: "cpu"}, {Key: "backend", Value: "mock"},
	{Key: "model", Value: "m"}, {Key: "workload", Value: "synthetic"}, {Key: "fingerprint", Value: "abc"}, {Key: "load", Value: "concurrency=4"}}

// synthResult builds a result whose metrics are centre*(1+shift) with 1% noise.
func synthResult(seed uint64, n int, shift map[string]float64) *Result {
	rng := rand.New(rand.NewPCG(seed, 1))
	base := map[string]float64{"ttft-p50-sec": 0.020, "itl-p50-sec": 0.005, "e2e-p50-sec": 0.5, "req/s": 30, "error-rate": 0}
	units := []string{"ttft-p50-sec", "itl-p50-sec", "e2e-p50-sec", "req/s", "error-rate"}
	r := &Result{Name: "PerfX", Config: testConfig}
	for range n {
		var ms []resultfile.Metric
		for _, u := range units {
			ms = append(ms, resultfile.Metric{Unit: u, Value: base[u] * (1 + shift[u]) * (1 + 0.01*rng.NormFloat64())})
		}
		r.Reps = append(r.Reps, Repetition{Metrics: ms, Requests: 100})
	}
	return r
}

func writeBaseline(t *testing.T, r *Result) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "baselines", "cpu", "x.txt")
	setFlag(t, flagUpdate, true)
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

// A current run that lacks some of the baseline's gated metrics fails the test naming
// them; a metric the baseline lacks is a warning saying how to gate it.
func TestGateRefusesMissingMetrics(t *testing.T) {
	path := writeBaseline(t, synthResult(1, 10, nil))
	drop := func(r *Result, unit string) *Result {
		for i := range r.Reps {
			r.Reps[i].Metrics = slices.DeleteFunc(r.Reps[i].Metrics, func(m resultfile.Metric) bool { return m.Unit == unit })
		}
		return r
	}
	c := capture(t, nil, func(tb testing.TB) { drop(synthResult(2, 10, nil), "itl-p50-sec").Gate(tb, path) })
	assert.Contains(t, c.errors(), "PerfX: not gated against "+path+": ")
	assert.Contains(t, c.errors(), "gated metrics of the baseline are missing from the current run: itl-p50-sec")
	assert.NotContains(t, c.errors(), "regressed")
}

// -perf.update refuses a baseline no comparison could ever decide against (issue 22:
// PERFGATE_COUNT=1 PERFGATE_MAX_COUNT=1 wrote a 1-repetition baseline without a word).
func TestGateUpdateRefusesTooSmall(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.txt")
	setFlag(t, flagUpdate, true)
	for _, n := range []int{1, 3} {
		c := capture(t, nil, func(tb testing.TB) { synthResult(1, n, nil).Gate(tb, path) })
		assert.Contains(t, c.errors(), fmt.Sprintf("PerfX: not written as a baseline: with %d repetitions no comparison against it can reach significance", n))
		assert.Contains(t, c.errors(), "record it with at least 5 repetitions (-perf.count")
		assert.NoFileExists(t, path)
	}
	c := capture(t, nil, func(tb testing.TB) { synthResult(1, 5, nil).Gate(tb, path) })
	assert.Empty(t, c.errors())
	assert.FileExists(t, path)
}

func TestGateMissingBaseline(t *testing.T) {
	c := capture(t, nil, func(tb testing.TB) { synthResult(1, 10, nil).Gate(tb, "testdata/nonexistent.txt") })
	assert.True(t, c.fatal)
	assert.Contains(t, c.errors(), "no baseline at testdata/nonexistent.txt: record one with `go test -run '^TestGateMissingBaseline$' -perf.update`")
}

func TestGateRefusesOtherSetup(t *testing.T) {
	path := writeBaseline(t, synthResult(1, 10, nil))
	other := synthResult(2, 10, nil)
	other.Config = append([]resultfile.KV(nil), testConfig...)
	other.Config[5] = resultfile.KV{Key: "fingerprint", Value: "def"}
	other.Config[0] = resultfile.KV{Key: "goos", Value: "darwin"} // informational: not part of the diff
	c := capture(t, nil, func(tb testing.TB) { other.Gate(tb, path) })
	assert.True(t, c.fatal)
	msg := c.errors()
	assert.Contains(t, msg, "refusing to compare unlike runs")
	assert.Contains(t, msg, `fingerprint: baseline "abc", current "def"`)
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
	rf, err := resultfile.Read(path)
	require.NoError(t, err)
	assert.Len(t, rf.Values("itl-p50-sec"), 10)
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
	_, err := resultfile.Read(path)
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
	raced.Config = append(append([]resultfile.KV(nil), testConfig...), resultfile.KV{Key: "race", Value: "on"})
	c := capture(t, nil, func(tb testing.TB) { raced.Gate(tb, path) })
	assert.True(t, c.skipped)
	assert.Empty(t, c.errors())
	assert.Contains(t, c.logged(), "built with -race")
}

func TestBaselinePath(t *testing.T) {
	setFlag(t, flagHardware, "NVIDIA H200")
	assert.Equal(t, "nvidia-h200", hardware())
	assert.Equal(t, filepath.Join("baselines", "nvidia-h200", "PerfChat_prefix.txt"), BaselinePath("baselines", "PerfChat/prefix"))
	setFlag(t, flagHardware, "")
	assert.NotEmpty(t, hardware(), "detected: a GPU model or cpu")
}

func TestGateRefusesOtherHardware(t *testing.T) {
	path := writeBaseline(t, synthResult(1, 10, nil))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Contains(t, string(b), "\nhardware: cpu\n", "the baseline records its hardware class")
	require.NoError(t, os.WriteFile(path, []byte(strings.Replace(string(b), "hardware: cpu", "hardware: nvidia-h100-80gb-hbm3", 1)), 0o644))
	c := capture(t, nil, func(tb testing.TB) { synthResult(2, 10, nil).Gate(tb, path) })
	assert.True(t, c.fatal)
	msg := c.errors()
	assert.Contains(t, msg, `recorded on hardware class "nvidia-h100-80gb-hbm3", this run is on "cpu"`)
	assert.Contains(t, msg, `hardware: baseline "nvidia-h100-80gb-hbm3", current "cpu"`)
	assert.Contains(t, msg, "perftest.BaselinePath")
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Contains(t, string(after), "nvidia-h100", "a refused baseline is left as it was")
}

func TestGateAcceptsBaselineWithoutHardware(t *testing.T) {
	// Baselines recorded before perfgate stored the hardware class still gate.
	path := writeBaseline(t, synthResult(1, 10, nil))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, []byte(strings.Replace(string(b), "hardware: cpu\n", "", 1)), 0o644))
	c := capture(t, nil, func(tb testing.TB) { synthResult(2, 10, nil).Gate(tb, path) })
	assert.False(t, c.fatal, c.errors())
	assert.Empty(t, c.errors())
}

func TestGateAppendsHistory(t *testing.T) {
	setFlag(t, flagHardware, "cpu")
	dir := t.TempDir()
	setFlag(t, flagHistory, dir)
	path := writeBaseline(t, synthResult(1, 10, nil))
	done := make(chan *captureTB, 4)
	for i := range 4 {
		go func() {
			done <- capture(t, nil, func(tb testing.TB) { synthResult(uint64(20+i), 10, nil).Gate(tb, path) })
		}()
	}
	for range 4 {
		c := <-done
		assert.Empty(t, c.errors())
		assert.Contains(t, c.logged(), "history: appended to")
	}
	h, err := history.Read(filepath.Join(dir, "cpu", "PerfX.history.jsonl"))
	require.NoError(t, err)
	require.Len(t, h, 5, "the baseline update and four gated runs, none lost")
	for _, e := range h {
		assert.Equal(t, "PerfX", e.Case)
		assert.Equal(t, "cpu", e.Hardware)
		assert.Equal(t, 10, e.N)
		assert.InDelta(t, 0.005, e.Medians["itl-p50-sec"], 0.0005)
		assert.False(t, e.Time.IsZero())
	}
}

func TestGateOptions(t *testing.T) {
	opt := GateOptions(0.01, 0)
	assert.Equal(t, 0.01, opt.Alpha)
	assert.Equal(t, 0.12, opt.Units["itl-p99-sec"].Threshold)
	assert.Zero(t, opt.Units["error-rate"].Threshold)
	assert.False(t, opt.Units["req/s"].LowerBetter)
	assert.True(t, opt.Units["ttft-p50-sec"].LowerBetter)
	assert.Equal(t, 0.03, GateOptions(0, 0.03).Units["error-rate"].Threshold, "-perf.threshold sets every metric's")
}

func TestGateRefusesUnhealthyRuns(t *testing.T) {
	path := writeBaseline(t, synthResult(1, 10, nil))
	sick := synthResult(2, 10, nil)
	sick.Config = append(append([]resultfile.KV(nil), testConfig...), resultfile.KV{Key: "health", Value: "error-rate"})
	setFlag(t, flagUpdate, true)
	c := capture(t, nil, func(tb testing.TB) { sick.Gate(tb, path) })
	assert.Contains(t, c.errors(), "not gated, and no baseline or history written")
	rf, err := resultfile.Read(path)
	require.NoError(t, err)
	assert.NoError(t, rf.Healthy(), "an unhealthy run never replaces the baseline")

	// A baseline recorded from an unhealthy run is refused.
	*flagUpdate = false
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, []byte(strings.Replace(string(b), "load: concurrency=4\n", "load: concurrency=4\nhealth: short-outputs\n", 1)), 0o644))
	c = capture(t, nil, func(tb testing.TB) { synthResult(3, 10, nil).Gate(tb, path) })
	assert.True(t, c.fatal)
	assert.Contains(t, c.errors(), "refusing to gate on baseline")
	assert.Contains(t, c.errors(), "health: short-outputs")
}

// TestGateUpdateKeepsABaselineSymlink: a baseline that is a symbolic link to a shared file
// stays a link on -perf.update, and the shared file is what is replaced (issue 23: the link
// became a plain file).
func TestGateUpdateKeepsABaselineSymlink(t *testing.T) {
	shared := writeBaseline(t, synthResult(1, 10, nil))
	link := filepath.Join(t.TempDir(), "h100", "x.txt")
	require.NoError(t, os.MkdirAll(filepath.Dir(link), 0o755))
	require.NoError(t, os.Symlink(shared, link))
	setFlag(t, flagUpdate, true)
	c := capture(t, nil, func(tb testing.TB) {
		synthResult(2, 10, map[string]float64{"itl-p50-sec": 0.2}).Gate(tb, link)
	})
	assert.Empty(t, c.errors())
	fi, err := os.Lstat(link)
	require.NoError(t, err)
	assert.NotZero(t, fi.Mode()&os.ModeSymlink, "the baseline is still a link")
	rf, err := resultfile.Read(shared)
	require.NoError(t, err)
	assert.Greater(t, robust.Median(rf.Values("itl-p50-sec")), 0.0055, "the file it points to holds the update")
}

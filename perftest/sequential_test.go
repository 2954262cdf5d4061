package perftest

import (
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/perftest/gate"
	"github.com/perfgate/perfgate/perftest/resultfile"
)

func TestCaseLooks(t *testing.T) {
	for _, tc := range []struct {
		count, most int
		want        []int
	}{
		{10, 30, []int{10, 15, 20, 25, 30}},
		{10, 22, []int{10, 15, 20, 22}},
		{10, 10, nil},
		{10, 0, nil},
		{3, 6, []int{3, 4, 5, 6}},
	} {
		assert.Equal(t, tc.want, Case{Count: tc.count, MaxCount: tc.most}.looks(), "count %d max %d", tc.count, tc.most)
	}
	looks := Case{Count: 10, MaxCount: 600}.looks()
	assert.Len(t, looks, 119, "every 5 from 10 to 600: within gate.MaxLooks")
	assert.Equal(t, []int{10, 15, 20}, looks[:3])
	looks = Case{Count: 1, MaxCount: 1000}.looks()
	assert.LessOrEqual(t, len(looks), 128, "at most gate.MaxLooks looks, spaced wider")
	assert.Equal(t, 1000, looks[len(looks)-1])
	assert.Equal(t, []int{1, 9, 17}, looks[:3])
	setFlag(t, flagMaxCount, 0)
	assert.Equal(t, 12, mustFlags(t, Case{Count: 4}).MaxCount, "3 x Count by default")
	setFlag(t, flagMaxCount, 5)
	assert.Equal(t, 5, mustFlags(t, Case{Count: 4}).MaxCount)
	assert.Equal(t, 4, mustFlags(t, Case{Count: 4, MaxCount: 4}).MaxCount, "the case's own")
}

// An update records the baseline at the most repetitions a comparison may take, and a
// comparison against it stops at a look, saying why.
func TestGateSequential(t *testing.T) {
	srv := newFakeServer(t, time.Millisecond, nil)
	c := Case{Name: "PerfSeq", Target: srv, Workload: small, Load: Concurrency(2), Count: 6, MaxCount: 9, Warmup: -1}
	path := filepath.Join(t.TempDir(), "seq.txt")
	setFlag(t, flagUpdate, true)
	up := capture(t, nil, func(tb testing.TB) { Run(tb, c).Gate(tb, path) })
	require.Empty(t, up.errors())
	assert.Contains(t, up.logged(), "recording the baseline with 9 repetitions")
	assert.Contains(t, up.logged(), "updated (9 repetitions)")
	*flagUpdate = false

	g := capture(t, nil, func(tb testing.TB) { Run(tb, c).Gate(tb, path) })
	m := regexp.MustCompile(`sequential: looks at 6, 9 repetitions; stopped: after (\d+) repetitions`).FindStringSubmatch(g.logged())
	require.NotNil(t, m, g.logged())
	assert.Contains(t, []string{"6", "9"}, m[1])
}

// A comparison that cannot be decided (a 2-repetition baseline: no p-value can reach
// alpha) runs to the most repetitions, one look at a time, says so, and fails the test as
// UNDECIDED (never a pass); the current result file records the design, so that perfgate
// compare reproduces the p-values.
func TestGateSequentialRunsToTheMost(t *testing.T) {
	srv := newFakeServer(t, time.Millisecond, nil)
	c := Case{Name: "PerfSeq", Target: srv, Workload: small, Load: Concurrency(2), Count: 2, MaxCount: 4, Warmup: -1}
	base := Run(t, Case{Name: "PerfSeq", Target: srv, Workload: small, Load: Concurrency(2), Count: 2, MaxCount: 2, Warmup: -1})
	path := filepath.Join(t.TempDir(), "seq.txt")
	require.NoError(t, base.File().WriteFile(path))
	out := t.TempDir()
	setFlag(t, flagOut, out)
	var res *Result
	g := capture(t, nil, func(tb testing.TB) {
		res = Run(tb, c)
		res.Gate(tb, path)
	})
	assert.Contains(t, g.errors(), "PerfSeq is UNDECIDED against "+path+", not passed: at 2 baseline and 4 current repetitions no regression of")
	assert.Contains(t, g.logged(), "undecided after 2 repetitions")
	assert.Contains(t, g.logged(), "undecided after 3 repetitions")
	assert.Contains(t, g.logged(), "stopped: after 4 repetitions, the most allowed")
	require.Len(t, res.Reps, 4)
	f, err := resultfile.Read(filepath.Join(out, "PerfSeq.txt"))
	require.NoError(t, err)
	assert.Len(t, f.Reps, 4, "the files are written once the gate has decided")
	assert.Equal(t, "0.05", f.ConfigValue("gate-alpha"), "with what it decided with")
	assert.Equal(t, "default", f.ConfigValue("gate-threshold"))
	seq, err := gate.ReadSequential(f)
	require.NoError(t, err)
	assert.Equal(t, &gate.Sequential{Looks: []int{2, 3, 4}}, seq)
	assert.Empty(t, resultfile.Diff(base.File(), f, "a", "b"), "the design is not part of the setup")
}

func TestGateLooks(t *testing.T) {
	for _, tc := range []struct {
		count, most, min int
		want             []int
		least            int
	}{
		{10, 30, 5, []int{5, 10, 15, 20, 25, 30}, 10},
		{10, 30, 6, []int{6, 10, 15, 20, 25, 30}, 10},
		{10, 30, 7, []int{10, 15, 20, 25, 30}, 0}, // more than two thirds of Count
		{10, 30, 1, []int{10, 15, 20, 25, 30}, 0},
		{10, 10, 5, nil, 0}, // a fixed count
		{6, 9, 5, []int{6, 9}, 0},
	} {
		looks, least := Case{Count: tc.count, MaxCount: tc.most}.gateLooks(tc.min)
		assert.Equal(t, tc.want, looks, "count %d max %d min %d", tc.count, tc.most, tc.min)
		assert.Equal(t, tc.least, least, "count %d max %d min %d", tc.count, tc.most, tc.min)
	}
}

// With -perf.min-count below Count, Run runs the early look's repetitions, and the gate
// stops there only at the no-change boundary; the result file records the design.
func TestGateNoChangeBoundary(t *testing.T) {
	srv := newFakeServer(t, time.Millisecond, nil)
	c := Case{Name: "PerfSeq", Target: srv, Workload: small, Load: Concurrency(2), Count: 8, MaxCount: 12, Warmup: -1}
	path := filepath.Join(t.TempDir(), "seq.txt")
	setFlag(t, flagMinCount, 4)
	setFlag(t, flagUpdate, true)
	up := capture(t, nil, func(tb testing.TB) { Run(tb, c).Gate(tb, path) })
	require.Empty(t, up.errors())
	assert.Contains(t, up.logged(), "repetition 4/4 done", "Run runs the first look")
	assert.Contains(t, up.logged(), "updated (12 repetitions)", "the baseline is recorded at the most")
	*flagUpdate = false

	out := t.TempDir()
	setFlag(t, flagOut, out)
	var res *Result
	g := capture(t, nil, func(tb testing.TB) {
		res = Run(tb, c)
		res.Gate(tb, path)
	})
	m := regexp.MustCompile(`sequential: looks at 4, 8, 12 repetitions \(before 8 only at the no-change boundary\); stopped: after (\d+) repetitions[:,] (.*)`).FindStringSubmatch(g.logged())
	require.NotNil(t, m, g.logged())
	if m[1] == "4" {
		assert.Equal(t, "every metric within its threshold (no-change boundary)", m[2])
	} else {
		assert.Contains(t, g.logged(), "undecided after 4 repetitions (", "an early look that goes on says which bounds are beyond their thresholds")
	}
	f, err := resultfile.Read(filepath.Join(out, "PerfSeq.txt"))
	require.NoError(t, err)
	seq, err := gate.ReadSequential(f)
	require.NoError(t, err)
	assert.Equal(t, &gate.Sequential{Looks: []int{4, 8, 12}, Least: 8}, seq)
	assert.Len(t, res.Reps, len(f.Reps))
}

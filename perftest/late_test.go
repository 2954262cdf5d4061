package perftest

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/perftest/metric"
)

// A repetition whose open-loop client fell behind its schedule is machine evidence, not a
// failure (issue 22: a Poisson case on a loaded machine failed, and -perf.update threw the
// whole run away); -perf.update measures such repetitions again, saying so, and refuses
// the baseline only when they stay late, naming the flag that sets the limit.
func TestLateRepetitions(t *testing.T) {
	srv := newFakeServer(t, time.Millisecond, nil)
	// A limit of 1 ns: every repetition is late. A slow rate, so that the client, however
	// busy the machine, does not fall 5% short of it (which that limit would not explain).
	c := Case{Name: "PerfLate", Target: srv, Workload: small, Load: Rate(20), Count: 3, MaxCount: 3, Warmup: -1, MaxScheduleLag: time.Nanosecond}
	var res *Result
	run := capture(t, nil, func(tb testing.TB) { res = Run(tb, c) })
	assert.Empty(t, run.errors(), "late repetitions do not fail the run")
	assert.Contains(t, run.logged(), "repetition 1: schedule lag p99 ")
	assert.Contains(t, run.logged(), "is over Case.MaxScheduleLag (-perf.max-schedule-lag) 1ns: the client could not keep its schedule")
	require.NoError(t, res.File().Healthy())
	assert.Equal(t, []float64{1, 1, 1}, res.Value(metric.MachineLate))

	path := filepath.Join(t.TempDir(), "late.txt")
	setFlag(t, flagUpdate, true)
	up := capture(t, nil, func(tb testing.TB) { Run(tb, c).Gate(tb, path) })
	assert.Contains(t, up.logged(), "PerfLate: repetitions [1 2 3] fell behind their schedule (schedule lag p99 over Case.MaxScheduleLag (-perf.max-schedule-lag) 1ns): a baseline keeps punctual repetitions only, so they are measured again")
	assert.Contains(t, up.errors(), "PerfLate: not written as a baseline: schedule lag over Case.MaxScheduleLag (-perf.max-schedule-lag): repetitions [1 2 3] fell behind their schedule")
	assert.Equal(t, 1, strings.Count(up.logged(), "measured again"), "3 re-measurements at most for 3 repetitions")
	assert.NoFileExists(t, path)

	// With a limit the client keeps, the baseline is written at once.
	c.MaxScheduleLag, c.Count, c.MaxCount = time.Minute, 6, 6
	up = capture(t, nil, func(tb testing.TB) { Run(tb, c).Gate(tb, path) })
	assert.NotContains(t, up.logged(), "measured again")
	assert.Empty(t, up.errors())
	assert.FileExists(t, path)
}

package perftest

import (
	"bufio"
	"context"
	"iter"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/perfgate/perfgate/fixtures"
	"github.com/perfgate/perfgate/perftest/resultfile"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var small = fixtures.Synthetic{ISL: 16, OSL: 6, Prompts: 12, Seed: 1}

func TestRunMeasures(t *testing.T) {
	srv := newFakeServer(t, time.Millisecond, nil)
	res := Run(t, Case{Target: srv, Workload: small, Load: Concurrency(3), Count: 2})
	require.Len(t, res.Reps, 2)
	for _, rep := range res.Reps {
		assert.Equal(t, 12, rep.Requests)
		assert.Equal(t, 12, rep.Outcomes[OK])
		assert.Len(t, rep.Records, 12)
	}
	assert.Equal(t, "fake-model", res.ConfigValue("model"), "model from /v1/models")
	assert.Equal(t, "concurrency=3", res.ConfigValue("load"))
	fp, _ := small.Fingerprint()
	assert.Equal(t, fp, res.ConfigValue("fingerprint"))
	itl := res.Value("itl-p50-sec")
	require.Len(t, itl, 2)
	assert.Greater(t, itl[0], 0.0009, "ITL at least the server's 1 ms per token")
	assert.Equal(t, []float64{0, 0}, res.Value("error-rate"))
	assert.Len(t, res.Value("req/s"), 2)
}

func TestRunCountsFailures(t *testing.T) {
	faults := []string{"", "500", "cut", "", "malformed", "error"}
	srv := newFakeServer(t, time.Millisecond, func(n int64) string { return faults[n%int64(len(faults))] })
	out := t.TempDir()
	setFlag(t, flagOut, out)
	c := capture(t, nil, func(tb testing.TB) {
		Run(tb, Case{Target: srv, Workload: small, Load: Concurrency(2), Count: 2, Warmup: -1})
	})
	assert.False(t, c.fatal, "failed requests must not stop the run: %s", c.errors())
	assert.Contains(t, c.errors(), "requests failed (over Case.MaxErrorRate 0.01)")
	res, err := resultfile.Read(filepath.Join(out, "RunCountsFailures.txt"))
	require.NoError(t, err)
	assert.Equal(t, []float64{8.0 / 12, 8.0 / 12}, res.Values("error-rate"), "4 of every 6 requests fail")
	assert.Contains(t, c.logged(), "http_error=4")
	assert.Contains(t, c.logged(), "disconnect=4")
}

func TestRunToleratesErrorsWhenAsked(t *testing.T) {
	srv := newFakeServer(t, time.Millisecond, func(n int64) string {
		if n%2 == 0 {
			return "500"
		}
		return ""
	})
	c := capture(t, nil, func(tb testing.TB) {
		Run(tb, Case{Target: srv, Workload: small, Load: Concurrency(2), Count: 1, MaxErrorRate: -1})
	})
	assert.Empty(t, c.errors())
}

func TestRunStopsOnCancel(t *testing.T) {
	// Cancelled in the middle of the third repetition (12 requests each), however fast
	// the machine runs it.
	ctx, cancel := context.WithCancel(t.Context())
	srv := newFakeServer(t, 5*time.Millisecond, func(n int64) string {
		if n == 30 {
			cancel()
		}
		return ""
	})
	out := t.TempDir()
	setFlag(t, flagOut, out)
	c := capture(t, ctx, func(tb testing.TB) {
		Run(tb, Case{Target: srv, Workload: small, Load: Concurrency(4), Count: 1000, Warmup: -1})
	})
	require.True(t, c.fatal)
	assert.Contains(t, c.errors(), "stopped")
	res, err := resultfile.Read(filepath.Join(out, "RunStopsOnCancel.txt"))
	require.NoError(t, err, "a stopped run still writes what it measured")
	assert.Len(t, res.Values("ttft-p50-sec"), 2, "the two finished repetitions")
	assert.Equal(t, "yes", res.ConfigValue("partial"))
	recs, err := os.ReadFile(filepath.Join(out, "RunStopsOnCancel.records.jsonl"))
	require.NoError(t, err)
	assert.Equal(t, 24, strings.Count(string(recs), `"rep":1`)+strings.Count(string(recs), `"rep":2`))
	assert.Positive(t, strings.Count(string(recs), `{"rep":3,"partial":true`), "the cut repetition's finished requests are kept")
}

// A run stopped before its first repetition finished never replaces a complete result:
// its finished requests go to a file of their own.
func TestRunStoppedEarlyKeepsTheLastResult(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	srv := newFakeServer(t, 5*time.Millisecond, func(n int64) string {
		if n == 5 {
			cancel()
		}
		return ""
	})
	out := t.TempDir()
	setFlag(t, flagOut, out)
	prev := filepath.Join(out, "RunStoppedEarlyKeepsTheLastResult.txt")
	require.NoError(t, synthResult(1, 10, nil).File().WriteFile(prev))
	before, err := os.ReadFile(prev)
	require.NoError(t, err)
	c := capture(t, ctx, func(tb testing.TB) {
		Run(tb, Case{Target: srv, Workload: small, Load: Concurrency(1), Count: 3, Warmup: -1})
	})
	require.True(t, c.fatal)
	assert.Contains(t, c.errors(), "no repetition finished")
	after, err := os.ReadFile(prev)
	require.NoError(t, err)
	assert.Equal(t, before, after, "the previous complete result is kept")
	partial, err := os.ReadFile(filepath.Join(out, "RunStoppedEarlyKeepsTheLastResult.partial.records.jsonl"))
	require.NoError(t, err)
	assert.Equal(t, 4, strings.Count(string(partial), `"partial":true`), "the 4 requests finished before the stop")
}

func TestBadCase(t *testing.T) {
	c := capture(t, nil, func(tb testing.TB) { Run(tb, Case{}) })
	require.True(t, c.fatal)
	msg := c.errors()
	assert.Contains(t, msg, "Target is nil (set Target: mock.Start")
	assert.Contains(t, msg, "Workload is nil")
	assert.Contains(t, msg, "Load sets no pacing (set Load: perftest.Concurrency(16)")

	c = capture(t, nil, func(tb testing.TB) {
		Run(tb, Case{Target: Endpoint("http://x"), Workload: small, Load: Load{Concurrency: 4, Rate: 3, Burstiness: -1}})
	})
	assert.Contains(t, c.errors(), "more than one of Concurrency, Rate/Stages and TraceTime")
	assert.Contains(t, c.errors(), "must be >= 0")
}

// turns is a two-session, three-turn workload.
type turns struct{}

func (turns) Name() string                 { return "turns" }
func (turns) Fingerprint() (string, error) { return "turns", nil }
func (turns) Requests() iter.Seq2[fixtures.Request, error] {
	return func(yield func(fixtures.Request, error) bool) {
		i := 0
		for turn := range 3 {
			for _, s := range []string{"a", "b"} {
				r := fixtures.Request{Index: i, Tokens: []int{1, 2}, OutputTokens: 4, Session: s, Turn: turn, Think: 2 * time.Millisecond}
				i++
				if !yield(r, nil) {
					return
				}
			}
		}
	}
}

func TestRunSessionsWaitForPreviousTurn(t *testing.T) {
	srv := newFakeServer(t, 2*time.Millisecond, nil)
	res := Run(t, Case{Target: srv, Workload: turns{}, Load: Concurrency(6), Count: 1, Warmup: -1})
	recs := res.Reps[0].Records
	require.Len(t, recs, 6)
	end := map[string]time.Duration{}
	for _, r := range recs { // sorted by index: turns in order
		if prev, ok := end[r.Session]; ok {
			assert.GreaterOrEqual(t, r.Scheduled, prev+2*time.Millisecond, "turn %d of %s sent before the previous turn ended plus think time", r.Turn, r.Session)
		}
		end[r.Session] = r.Scheduled + r.Done
	}
}

func TestRecordsFile(t *testing.T) {
	srv := newFakeServer(t, time.Millisecond, nil)
	out := t.TempDir()
	setFlag(t, flagOut, out)
	Run(t, Case{Target: srv, Workload: small, Load: Concurrency(2), Count: 2})
	f, err := os.Open(filepath.Join(out, "RecordsFile.records.jsonl"))
	require.NoError(t, err)
	defer f.Close()
	n := 0
	for sc := bufio.NewScanner(f); sc.Scan(); n++ {
		assert.Contains(t, sc.Text(), `"outcome":"ok"`)
	}
	assert.Equal(t, 24, n)
}

package history

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// stepHistory is a history of n runs whose itl-p50-sec median moves by steps[i] (relative)
// from entry i on, with 3% noise, and whose req/s stays flat.
func stepHistory(seed uint64, n int, steps map[int]float64) []Entry {
	return noisyStepHistory(seed, n, steps, 0.03)
}

func noisyStepHistory(seed uint64, n int, steps map[int]float64, noise float64) []Entry {
	rng := rand.New(rand.NewPCG(seed, 2))
	level := 1.0
	var h []Entry
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		level *= 1 + steps[i]
		h = append(h, Entry{
			Time: t0.Add(time.Duration(i) * time.Hour), Commit: fmt.Sprintf("c%02d", i), Case: "PerfX", N: 10,
			Medians: map[string]float64{
				"itl-p50-sec": 0.005 * level * (1 + noise*rng.NormFloat64()),
				"req/s":       30 * (1 + noise*rng.NormFloat64()),
			},
		})
	}
	return h
}

func TestDetectChangesFindsStep(t *testing.T) {
	for seed := range uint64(5) {
		cps := DetectChanges(stepHistory(seed, 40, map[int]float64{25: 0.10}), Options{})
		require.Len(t, cps, 1, "seed %d: %+v", seed, cps)
		cp := cps[0]
		assert.Equal(t, "itl-p50-sec", cp.Unit)
		assert.InDelta(t, 25, cp.Index, 1, "seed %d", seed)
		assert.InDelta(t, 0.10, cp.Change, 0.04)
		assert.True(t, cp.Worse, "slower per token is worse")
		assert.Less(t, cp.P, 0.05)
		assert.Equal(t, fmt.Sprintf("c%02d", cp.Index), cp.Commit)
	}
}

func TestDetectChangesFlatAndTwoSteps(t *testing.T) {
	for seed := range uint64(10) {
		assert.Empty(t, DetectChanges(stepHistory(seed, 40, nil), Options{}), "seed %d: no change, no change point", seed)
	}
	// A drift a single comparison misses: two 4% steps, each under the 5% threshold. The
	// medians of 10 repetitions with 3% noise vary by about 1.5%.
	for seed := range uint64(5) {
		cps := DetectChanges(noisyStepHistory(seed, 60, map[int]float64{20: 0.04, 40: 0.04}, 0.015), Options{})
		require.Len(t, cps, 2, "seed %d: %+v", seed, cps)
		assert.InDelta(t, 20, cps[0].Index, 3, "seed %d", seed)
		assert.InDelta(t, 40, cps[1].Index, 3, "seed %d", seed)
	}
	// MinChange drops small ones.
	assert.Empty(t, DetectChanges(noisyStepHistory(1, 60, map[int]float64{20: 0.04, 40: 0.04}, 0.015), Options{MinChange: 0.2}))
	// Too short to split.
	assert.Empty(t, DetectChanges(stepHistory(1, 9, map[int]float64{5: 0.5}), Options{}))
}

func TestAppendAndRead(t *testing.T) {
	path := Path(t.TempDir(), "cpu", "PerfX")
	assert.Equal(t, "PerfX.history.jsonl", filepath.Base(path))
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			e := Entry{Time: time.Now().UTC(), Case: "PerfX", Hardware: "cpu", N: 10, Medians: map[string]float64{"itl-p50-sec": 0.005 + float64(i)*1e-6}}
			assert.NoError(t, Append(path, e))
		})
	}
	wg.Wait()
	h, err := Read(path)
	require.NoError(t, err)
	require.Len(t, h, 8, "concurrent appends: none lost")
	for _, e := range h {
		assert.Equal(t, "PerfX", e.Case)
		assert.InDelta(t, 0.005, e.Medians["itl-p50-sec"], 0.0005)
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no lock file left behind")
}

func TestParseErrors(t *testing.T) {
	good := `{"time":"2026-11-01T00:00:00Z","case":"X","n":10,"medians":{"req/s":30}}`
	for _, tc := range []struct{ name, in, want string }{
		{"garbage", good + "\n{\"time\":\n", "h.jsonl:2: not a history entry"},
		{"no medians", good + "\n\n" + `{"time":"2026-11-01T00:00:00Z","case":"X","n":10}`, "h.jsonl:3: history entry has no medians"},
		{"unknown field", `{"time":"2026-11-01T00:00:00Z","case":"X","n":10,"medians":{"a":1},"extra":1}`, "h.jsonl:1: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tc.in), "h.jsonl")
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	h, err := Parse(strings.NewReader(good+"\n\n"+good+"\n"), "h.jsonl")
	require.NoError(t, err)
	assert.Len(t, h, 2)
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"time":"2026-11-01T00:00:00Z","case":"X","n":10,"medians":{"req/s":30}}` + "\n"))
	f.Add([]byte("{}\n\n{\"medians\":{\"a\":1e309}}\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		h, err := Parse(bytes.NewReader(in), "fuzz.jsonl")
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.jsonl") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		_ = DetectChanges(h, Options{})
	})
}

// TestDetectChangesOnALongHistory: 100,000 runs (issue 23: 604 s and still running with
// permutation tests) with a 5% step every 5,000 runs: every step found where it is, nothing
// else.
func TestDetectChangesOnALongHistory(t *testing.T) {
	steps := map[int]float64{}
	for i := 1; i < 20; i++ {
		steps[i*5000] = 0.05
	}
	cps := DetectChanges(noisyStepHistory(1, 100_000, steps, 0.015), Options{})
	require.Len(t, cps, 19, "%+v", cps)
	for i, cp := range cps {
		assert.Equal(t, "itl-p50-sec", cp.Unit)
		assert.InDelta(t, (i+1)*5000, cp.Index, 5, "change point %d", i)
		assert.InDelta(t, 0.05, cp.Change, 0.01)
	}
}

// TestDetectChangesFalseAlarms: on histories without a change, change points are as rare
// as Alpha says (0.05 per history), short or long.
func TestDetectChangesFalseAlarms(t *testing.T) {
	for _, n := range []int{40, 300} {
		alarms := 0
		for seed := range uint64(100) {
			if len(DetectChanges(stepHistory(seed, n, nil), Options{})) > 0 {
				alarms++
			}
		}
		assert.LessOrEqual(t, alarms, 8, "%d entries: %d of 100 flat histories had a change point", n, alarms)
	}
	assert.Empty(t, DetectChanges(stepHistory(1, 100_000, nil), Options{}), "100,000 flat runs")
}

func TestDetectChangesHonoursTheContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	cps, err := DetectChangesContext(ctx, stepHistory(1, 10_000, map[int]float64{5_000: 0.1}), Options{})
	require.ErrorIs(t, err, context.Canceled)
	assert.Nil(t, cps)
}

func BenchmarkDetectChanges100k(b *testing.B) {
	h := noisyStepHistory(1, 100_000, map[int]float64{30_000: 0.05, 70_000: -0.05}, 0.015)
	for b.Loop() {
		DetectChanges(h, Options{})
	}
}

// TestParseRefusesWhatNoRunWrites: a negative median, and entries of several cases or
// hardware classes in one file (issue 23: all accepted and searched for change points).
func TestParseRefusesWhatNoRunWrites(t *testing.T) {
	entry := func(kase, hw string, itl float64) string {
		return fmt.Sprintf(`{"time":"2026-11-01T00:00:00Z","case":%q,"hardware":%q,"n":10,"medians":{"itl-p50-sec":%v,"req/s":30}}`, kase, hw, itl)
	}
	for _, tc := range []struct{ name, in, want string }{
		{"negative latency", entry("X", "h100", 0.005) + "\n" + entry("X", "h100", -0.005), `h.jsonl:2: median of "itl-p50-sec" is -0.005: a latency cannot be negative`},
		{"two cases", entry("X", "h100", 0.005) + "\n\n" + entry("Y", "h100", 0.005), `h.jsonl:3: case "Y", where line 1 has "X": one history file holds the runs of one case on one hardware class`},
		{"two hardware classes", entry("X", "", 0.005) + "\n" + entry("X", "h100", 0.005) + "\n" + entry("X", "a100", 0.005), `h.jsonl:3: hardware class "a100", where line 2 has "h100"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tc.in), "h.jsonl")
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	h, err := Parse(strings.NewReader(entry("X", "", 0.005)+"\n"+entry("X", "h100", 0.006)+"\n"), "h.jsonl")
	require.NoError(t, err, "entries from before the hardware class was recorded belong to any")
	assert.Len(t, h, 2)
}

// TestAppendWritesWhatReadReads: what Append writes, Read reads back equal, whatever the
// case name holds; what Read would refuse, Append does not write.
func TestAppendWritesWhatReadReads(t *testing.T) {
	path := Path(t.TempDir(), "cpu", "PerfX")
	var want []Entry
	for i, name := range []string{"PerfX", "Perf X\n# heading", strings.Repeat("x", 70<<10), "\x1b[2J|<img src=x>", "\xff"} {
		e := Entry{Time: time.Date(2026, 11, 1, i, 0, 0, 0, time.UTC), Case: "PerfX", Commit: name, Hardware: "h100", N: 10,
			Medians: map[string]float64{"itl-p50-sec": 0.005 + float64(i)*1e-9, "req/s": 1e12}}
		require.NoError(t, Append(path, e))
		e.Commit = strings.ToValidUTF8(e.Commit, "\uFFFD") // JSON holds text
		want = append(want, e)
	}
	got, err := Read(path)
	require.NoError(t, err)
	assert.Equal(t, want, got)
	for _, bad := range []float64{-0.001, math.Inf(1), math.NaN()} {
		err := Append(path, Entry{Case: "PerfX", N: 10, Medians: map[string]float64{"itl-p50-sec": bad}})
		require.Error(t, err, "%v", bad)
		assert.Contains(t, err.Error(), "Read would refuse the entry")
	}
	_, err = Read(path)
	assert.NoError(t, err, "nothing unreadable was written")
}

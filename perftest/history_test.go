package perftest

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// stepHistory is a history of n runs whose itl-p50-sec median moves by steps[i] (relative)
// from entry i on, with 3% noise, and whose req/s stays flat.
func stepHistory(seed uint64, n int, steps map[int]float64) []HistoryEntry {
	return noisyStepHistory(seed, n, steps, 0.03)
}

func noisyStepHistory(seed uint64, n int, steps map[int]float64, noise float64) []HistoryEntry {
	rng := rand.New(rand.NewPCG(seed, 2))
	level := 1.0
	var h []HistoryEntry
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		level *= 1 + steps[i]
		h = append(h, HistoryEntry{
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
		cps := DetectChanges(stepHistory(seed, 40, map[int]float64{25: 0.10}), ChangePointOptions{})
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
		assert.Empty(t, DetectChanges(stepHistory(seed, 40, nil), ChangePointOptions{}), "seed %d: no change, no change point", seed)
	}
	// A drift a single comparison misses: two 4% steps, each under the 5% threshold. The
	// medians of 10 repetitions with 3% noise vary by about 1.5%.
	for seed := range uint64(5) {
		cps := DetectChanges(noisyStepHistory(seed, 60, map[int]float64{20: 0.04, 40: 0.04}, 0.015), ChangePointOptions{})
		require.Len(t, cps, 2, "seed %d: %+v", seed, cps)
		assert.InDelta(t, 20, cps[0].Index, 3, "seed %d", seed)
		assert.InDelta(t, 40, cps[1].Index, 3, "seed %d", seed)
	}
	// MinChange drops small ones.
	assert.Empty(t, DetectChanges(noisyStepHistory(1, 60, map[int]float64{20: 0.04, 40: 0.04}, 0.015), ChangePointOptions{MinChange: 0.2}))
	// Too short to split.
	assert.Empty(t, DetectChanges(stepHistory(1, 9, map[int]float64{5: 0.5}), ChangePointOptions{}))
}

func TestHistoryAppendAndRead(t *testing.T) {
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
	hp := HistoryPath(dir, "PerfX")
	assert.Equal(t, filepath.Join(dir, "cpu", "PerfX.history.jsonl"), hp)
	h, err := ReadHistory(hp)
	require.NoError(t, err)
	require.Len(t, h, 5, "the baseline update and four gated runs, none lost")
	for _, e := range h {
		assert.Equal(t, "PerfX", e.Case)
		assert.Equal(t, "cpu", e.Hardware)
		assert.Equal(t, 10, e.N)
		assert.InDelta(t, 0.005, e.Medians["itl-p50-sec"], 0.0005)
		assert.False(t, e.Time.IsZero())
	}
	entries, err := os.ReadDir(filepath.Dir(hp))
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no lock file left behind")
}

func TestParseHistoryErrors(t *testing.T) {
	good := `{"time":"2026-11-01T00:00:00Z","case":"X","n":10,"medians":{"req/s":30}}`
	for _, tc := range []struct{ name, in, want string }{
		{"garbage", good + "\n{\"time\":\n", "h.jsonl:2: not a history entry"},
		{"no medians", good + "\n\n" + `{"time":"2026-11-01T00:00:00Z","case":"X","n":10}`, "h.jsonl:3: history entry has no medians"},
		{"unknown field", `{"time":"2026-11-01T00:00:00Z","case":"X","n":10,"medians":{"a":1},"extra":1}`, "h.jsonl:1: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseHistory(strings.NewReader(tc.in), "h.jsonl")
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	h, err := ParseHistory(strings.NewReader(good+"\n\n"+good+"\n"), "h.jsonl")
	require.NoError(t, err)
	assert.Len(t, h, 2)
}

func FuzzParseHistory(f *testing.F) {
	f.Add([]byte(`{"time":"2026-11-01T00:00:00Z","case":"X","n":10,"medians":{"req/s":30}}` + "\n"))
	f.Add([]byte("{}\n\n{\"medians\":{\"a\":1e309}}\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		h, err := ParseHistory(bytes.NewReader(in), "fuzz.jsonl")
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.jsonl") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		_ = DetectChanges(h, ChangePointOptions{Permutations: 9})
	})
}

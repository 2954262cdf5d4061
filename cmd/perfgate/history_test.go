package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/perfgate/perfgate/perftest/history"
)

// writeHistory writes n entries whose itl-p50-sec steps up by step from entry at on, with
// 3% noise.
func writeHistory(t *testing.T, n, at int, step float64) string {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 1))
	var sb strings.Builder
	for i := range n {
		level := 1.0
		if i >= at {
			level += step
		}
		e := history.Entry{Time: time.Date(2026, 11, 1, i, 0, 0, 0, time.UTC), Commit: fmt.Sprintf("%02d%038d", i, 0), Case: "PerfX", N: 10,
			Medians: map[string]float64{"itl-p50-sec": 0.005 * level * (1 + 0.03*rng.NormFloat64()), "req/s": 30 * (1 + 0.03*rng.NormFloat64())}}
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		sb.Write(append(b, '\n'))
	}
	p := filepath.Join(t.TempDir(), "PerfX.history.jsonl")
	if err := os.WriteFile(p, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestHistoryFindsStep(t *testing.T) {
	p := writeHistory(t, 40, 25, 0.10)
	code, out, errs := runCmd(t, "history", p)
	if code != 1 {
		t.Fatalf("exit %d, want 1 (a worse change point)\n%s%s", code, out, errs)
	}
	for _, want := range []string{"40 runs of PerfX", "itl-p50-sec", "#26", "250000000000 ", "WORSE"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "req/s") {
		t.Errorf("flat req/s has no change point:\n%s", out)
	}
	code, out, _ = runCmd(t, "history", "--format", "json", p)
	var got struct {
		Entries      int                   `json:"entries"`
		ChangePoints []history.ChangePoint `json:"change_points"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil || code != 1 {
		t.Fatalf("exit %d, JSON %v:\n%s", code, err, out)
	}
	if got.Entries != 40 || len(got.ChangePoints) != 1 || got.ChangePoints[0].Index != 25 {
		t.Errorf("got %+v", got)
	}
}

func TestHistoryFlatAndBadInput(t *testing.T) {
	code, out, errs := runCmd(t, "history", writeHistory(t, 30, 99, 0))
	if code != 0 || !strings.Contains(out, "no change point") {
		t.Errorf("exit %d:\n%s%s", code, out, errs)
	}
	bad := filepath.Join(t.TempDir(), "h.jsonl")
	if err := os.WriteFile(bad, []byte("{\"time\":\"2026-11-01T00:00:00Z\",\"case\":\"X\",\"n\":1,\"medians\":{\"a\":1}}\nnot json\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errs = runCmd(t, "history", bad)
	if code != 2 || !strings.Contains(errs, "h.jsonl:2: not a history entry") {
		t.Errorf("exit %d: %s", code, errs)
	}
	if code, _, _ := runCmd(t, "history"); code != 2 {
		t.Errorf("no file: exit %d", code)
	}
}

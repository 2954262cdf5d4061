package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/perfgate/perfgate/backends/mock"
	"github.com/perfgate/perfgate/perftest/gate"
	"github.com/perfgate/perfgate/perftest/resultfile"
)

// driftingPair starts two simulators that are slow right after startup (3x, easing to
// normal over the run): a drift of the machine that hits both sides of an A/B run. B's
// decode is slower by the factor decode.
func driftingPair(t *testing.T, decode float64) (a, b *mock.Server) {
	faults := mock.Faults{SlowStart: 5 * time.Second, SlowStartFactor: 3}
	a = mock.Start(t, mock.Config{Model: "sim", SpeedupRatio: 5, Faults: faults})
	b = mock.Start(t, mock.Config{Model: "sim", SpeedupRatio: 5, Faults: faults, Profile: mock.DefaultProfile().Scaled(1, decode)})
	return a, b
}

// abDrift runs perfgate ab between two drifting simulators, 10 to 30 pairs (sequential:
// more while undecided), and returns its exit
// code, its report and the report perfgate compare gives for the same files without their
// ab-order lines (unpaired).
func abDrift(t *testing.T, decode float64) (code int, paired, unpairedOut string) {
	t.Setenv("GITHUB_STEP_SUMMARY", "")
	a, b := driftingPair(t, decode)
	out := t.TempDir()
	code, stdout, errs := runCmd(t, "ab", "--a", a.BaseURL(), "--b", b.BaseURL(), "--isl", "32", "--osl", "16", "--requests", "8",
		"--concurrency", "2", "--count", "10", "--max-count", "30", "--order-seed", "3", "--out", out)
	if code == 2 {
		t.Fatalf("perfgate ab: exit 2:\n%s", errs)
	}
	var files [2]string
	for i, side := range []string{"A", "B"} {
		f, err := resultfile.Read(filepath.Join(out, "PerfAB."+side+".txt"))
		if err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := gate.ReadPairedOrder(f); !ok {
			t.Fatalf("%s: no ab-order line", side)
		}
		// The same file without the pairing: an unpaired comparison of the same values.
		raw, err := os.ReadFile(filepath.Join(out, "PerfAB."+side+".txt"))
		if err != nil {
			t.Fatal(err)
		}
		var keep []string
		for _, line := range strings.Split(string(raw), "\n") {
			if !strings.HasPrefix(line, "ab-order:") {
				keep = append(keep, line)
			}
		}
		files[i] = filepath.Join(out, "unpaired."+side+".txt")
		if err := os.WriteFile(files[i], []byte(strings.Join(keep, "\n")), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, unpairedOut, _ = runCmd(t, "compare", files[0], files[1])
	return code, stdout, unpairedOut
}

// Drift that hits both sides cancels pair by pair: a simulator that starts 3x slow, run
// against a copy of itself, is not a regression.
func TestABDriftCancels(t *testing.T) {
	code, report, unpaired := abDrift(t, 1)
	if code == 1 {
		t.Errorf("A/A under drift: exit 1, a false regression:\n%s", report)
	}
	if !strings.Contains(report, " pairs, signed-rank") {
		t.Errorf("the report does not say it paired:\n%s", report)
	}
	t.Logf("paired:\n%s\nunpaired, the same files:\n%s", report, unpaired)
}

// A 10% slower decode on B is caught under the same drift.
func TestABDriftCatchesSlowerDecode(t *testing.T) {
	code, report, unpaired := abDrift(t, 1.10)
	if code != 1 || !strings.Contains(report, "itl-p50-sec") {
		t.Errorf("B decodes 10%% slower: exit %d, want 1:\n%s", code, report)
	}
	t.Logf("paired:\n%s\nunpaired, the same files:\n%s", report, unpaired)
}

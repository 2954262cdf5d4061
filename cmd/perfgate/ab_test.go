package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/perfgate/perfgate/backends/mock"
)

func TestABFindsSlowerDecode(t *testing.T) {
	t.Setenv("GITHUB_STEP_SUMMARY", "")
	a := mock.Start(t, mock.Config{Model: "sim", SpeedupRatio: 20})
	b := mock.Start(t, mock.Config{Model: "sim", SpeedupRatio: 20, Profile: mock.DefaultProfile().Scaled(1, 3)})
	out := t.TempDir()
	code, stdout, errs := runCmd(t, "ab", "--a", a.BaseURL(), "--b", b.BaseURL(), "--isl", "32", "--osl", "8", "--requests", "6",
		"--concurrency", "2", "--count", "6", "--order-seed", "4", "--out", out)
	if code != 1 {
		t.Fatalf("exit %d, want 1 (B decodes 3x slower)\nstdout:\n%s\nstderr:\n%s", code, stdout, errs)
	}
	if !strings.Contains(stdout, "regressed") || !strings.Contains(stdout, "itl-p50-sec") || !strings.Contains(stdout, "paired, ") {
		t.Errorf("report:\n%s", stdout)
	}
	if !strings.Contains(errs, "A/B repetition 12/12 (A 6) done") {
		t.Errorf("progress lines, ABBA order ending in A:\n%s", errs)
	}
	for _, side := range []string{"A", "B"} {
		if _, err := os.Stat(filepath.Join(out, "PerfAB."+side+".txt")); err != nil {
			t.Error(err)
		}
	}
	// benchstat-compatible files: perfgate compare reads them back.
	if code, _, errs := runCmd(t, "compare", filepath.Join(out, "PerfAB.A.txt"), filepath.Join(out, "PerfAB.B.txt")); code != 1 {
		t.Errorf("compare A B: exit %d: %s", code, errs)
	}
}

func TestABBadInput(t *testing.T) {
	for _, args := range [][]string{
		{"ab"},
		{"ab", "--a", "http://127.0.0.1:1"},
		{"ab", "--a", "http://x", "--b", "http://y", "--format", "xml"},
		{"ab", "--a", "http://x", "--b", "http://y", "--api", "grpc"},
		{"ab", "--a", "http://x", "--b", "http://y", "extra"},
	} {
		if code, _, _ := runCmd(t, args...); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
	// A server that is not there: the run cannot start.
	code, _, errs := runCmd(t, "ab", "--a", "http://127.0.0.1:1", "--b", "http://127.0.0.1:1", "--count", "1", "--quiet")
	if code != 2 || !strings.Contains(errs, "list models") {
		t.Errorf("exit %d: %s", code, errs)
	}
}

package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name, or rewrites it with -update; on a mismatch it
// writes testdata/name.got beside it, as benchstat's tests do.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "no golden file: run go test ./cmd/perfgate -run Golden -update")
	if !bytes.Equal(got, want) {
		_ = os.WriteFile(path+".got", got, 0o644)
		t.Errorf("output differs from %s (see %s.got; -update rewrites it)", path, path)
	}
}

// TestCompareGolden checks perfgate compare's output in every format byte for byte, and
// that it is the same on every run.
func TestCompareGolden(t *testing.T) {
	t.Setenv("GITHUB_STEP_SUMMARY", "")
	for _, tc := range []struct{ name, old, cur string }{
		{"slower", "base.txt", "slower.txt"},
		{"few", "base.txt", "few.txt"},
	} {
		for _, format := range []string{"text", "markdown", "json"} {
			var first string
			for range 3 {
				_, out, _ := runCmd(t, "compare", "--format", format, td+tc.old, td+tc.cur)
				if first == "" {
					first = out
				} else if out != first {
					t.Fatalf("compare --format %s differs between runs", format)
				}
			}
			golden(t, "compare-"+tc.name+"."+format, []byte(first))
		}
	}
	_, _, errs := runCmd(t, "compare", td+"base.txt", td+"other-setup.txt")
	golden(t, "compare-other-setup.stderr", []byte(errs))
}

func TestHelpGolden(t *testing.T) {
	_, out, _ := runCmd(t, "help")
	golden(t, "help", []byte(out))
}

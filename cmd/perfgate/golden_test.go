package main

import (
	"testing"

	"github.com/perfgate/perfgate/internal/golden"
)

// TestCompareGolden checks perfgate compare's output in every format byte for byte, and
// that it is the same on every run.
func TestCompareGolden(t *testing.T) {
	t.Setenv("GITHUB_STEP_SUMMARY", "")
	for _, tc := range []struct{ name, old, cur string }{
		{"slower", "base.txt", "slower.txt"},
		{"few", "base.txt", "few.txt"},
		{"attributed", "prefix-cached.txt", "prefix-uncached.txt"},
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
			golden.Check(t, "compare-"+tc.name+"."+format, []byte(first))
		}
	}
	_, _, errs := runCmd(t, "compare", td+"base.txt", td+"other-setup.txt")
	golden.Check(t, "compare-other-setup.stderr", []byte(errs))
}

func TestHelpGolden(t *testing.T) {
	_, out, _ := runCmd(t, "help")
	golden.Check(t, "help", []byte(out))
}

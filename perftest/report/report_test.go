package report

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/perfgate/perfgate/internal/golden"
	"github.com/perfgate/perfgate/perftest/resultfile"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// examples are the committed result folders (mktestdata.go writes them).
var examples = []string{"gated", "sweep", "ab", "history"}

func load(t *testing.T, dir string) *Report {
	t.Helper()
	r, err := Load("testdata/"+dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestMarkdownGolden checks report.md of every example byte for byte.
func TestMarkdownGolden(t *testing.T) {
	for _, ex := range examples {
		t.Run(ex, func(t *testing.T) {
			var b strings.Builder
			if err := load(t, ex).WriteMarkdown(&b); err != nil {
				t.Fatal(err)
			}
			golden.Check(t, ex+".md", []byte(b.String()))
		})
	}
}

// TestUnhealthyNotCompared: a run whose file records problems is not compared (as the gate
// and perfgate compare refuse it) and is the folder's most urgent verdict.
func TestUnhealthyNotCompared(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"PerfChat.txt", "PerfChat.baseline.txt"} {
		b, err := os.ReadFile(filepath.Join("testdata/gated", name))
		require.NoError(t, err)
		if name == "PerfChat.txt" {
			b = []byte(strings.Replace(string(b), "cache-reset: yes\n", "cache-reset: yes\nhealth: error-rate\n", 1))
		}
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), b, 0o644))
	}
	r, err := Load(dir, Options{})
	require.NoError(t, err)
	c := r.Cases[0]
	assert.Nil(t, c.Compare)
	require.ErrorIs(t, c.Unhealthy, resultfile.ErrUnhealthy)
	v, why := c.Verdict()
	assert.Equal(t, Unhealthy, v)
	assert.Contains(t, why, "health: error-rate")
	assert.Equal(t, Unhealthy, r.Verdict())
	var md strings.Builder
	require.NoError(t, r.WriteMarkdown(&md))
	assert.True(t, strings.HasPrefix(md.String(), "# perfgate: UNHEALTHY: 1 of 1 run recorded problems"), md.String())
	assert.NotContains(t, md.String(), "| metric |", "no comparison table")
	checkPlots(t, "unhealthy", writeHTML(t, r))
}

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/internal/golden"
)

const reportTD = "../../perftest/report/testdata/"

// TestReportGolden runs perfgate report on each committed example folder: its output and
// exit status, report.md byte for byte (the same golden file the report package checks),
// and report.html written beside it.
func TestReportGolden(t *testing.T) {
	t.Setenv("GITHUB_STEP_SUMMARY", "")
	for _, tc := range []struct {
		dir  string
		code int
	}{{"gated", 1}, {"sweep", 0}, {"ab", 0}, {"history", 0}} {
		t.Run(tc.dir, func(t *testing.T) {
			out := t.TempDir()
			code, stdout, stderr := runCmd(t, "report", reportTD+tc.dir, "--out", out)
			assert.Equal(t, tc.code, code, stderr)
			golden.Check(t, "report-"+tc.dir+".stdout", []byte(strings.ReplaceAll(stdout, filepath.ToSlash(out), "OUT")))
			md, err := os.ReadFile(filepath.Join(out, "report.md"))
			require.NoError(t, err)
			want, err := os.ReadFile(reportTD + tc.dir + ".md")
			require.NoError(t, err)
			assert.Equal(t, string(want), string(md), "report.md is the report package's golden %s.md", tc.dir)
			html, err := os.ReadFile(filepath.Join(out, "report.html"))
			require.NoError(t, err)
			assert.True(t, strings.HasPrefix(string(html), "<!doctype html>"))
		})
	}
}

// TestReportStepSummary: with $GITHUB_STEP_SUMMARY set, report.md is appended to it, so
// the job summary shows the report's text.
func TestReportStepSummary(t *testing.T) {
	summary := filepath.Join(t.TempDir(), "summary.md")
	require.NoError(t, os.WriteFile(summary, []byte("before\n"), 0o644))
	t.Setenv("GITHUB_STEP_SUMMARY", summary)
	out := t.TempDir()
	code, _, stderr := runCmd(t, "report", reportTD+"ab", "--out", out)
	require.Equal(t, 0, code, stderr)
	md, err := os.ReadFile(filepath.Join(out, "report.md"))
	require.NoError(t, err)
	got, err := os.ReadFile(summary)
	require.NoError(t, err)
	assert.Equal(t, "before\n"+string(md), string(got))
}

func TestReportBadInput(t *testing.T) {
	t.Setenv("GITHUB_STEP_SUMMARY", "")
	code, _, stderr := runCmd(t, "report")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "want one results folder")
	code, _, stderr = runCmd(t, "report", t.TempDir())
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "no results")
	code, _, stderr = runCmd(t, "report", filepath.Join(t.TempDir(), "missing"))
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "no such file")
	code, _, _ = runCmd(t, "report", reportTD+"ab", "--alpha", "2")
	assert.Equal(t, 2, code)
}

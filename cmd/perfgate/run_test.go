package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/perfgate/perfgate/backends/mock"
	"github.com/perfgate/perfgate/perftest/resultfile"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRunCommand(t *testing.T) {
	srv := mock.Start(t, mock.Config{SpeedupRatio: 20})
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"run", "--endpoint", srv.BaseURL(), "--isl", "64", "--osl", "8", "--requests", "12",
		"--concurrency", "4", "--count", "3", "--out", out, "--name", "Local"}, &stdout, &stderr)
	require.Equal(t, 0, code, "stderr: %s", stderr.String())
	assert.Contains(t, stdout.String(), "ttft-p50-sec")
	assert.Contains(t, stdout.String(), "results: "+filepath.Join(out, "Local.txt"))
	rf, err := resultfile.Read(filepath.Join(out, "Local.txt"))
	require.NoError(t, err)
	assert.Len(t, rf.Values("itl-p50-sec"), 3)
	_, err = os.Stat(filepath.Join(out, "Local.records.jsonl"))
	assert.NoError(t, err)
	assert.NotContains(t, stderr.String(), "\r", "plain progress lines when not on a terminal")
}

func TestRunCommandOpenLoop(t *testing.T) {
	srv := mock.Start(t, mock.Config{SpeedupRatio: 20})
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"run", "--endpoint", srv.BaseURL(), "--isl", "32", "--osl", "4", "--requests", "20",
		"--rate", "100", "--arrival", "poisson", "--count", "2", "--out", t.TempDir(),
		"--max-schedule-lag", "1s"}, &stdout, &stderr)
	require.Equal(t, 0, code, "stderr: %s", stderr.String())
	assert.Contains(t, stdout.String(), "req/s requested")
}

func TestRunCommandBadInput(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run"}, "--endpoint is required"},
		{[]string{"run", "--endpoint", "http://127.0.0.1:1", "--arrival", "bursty", "--rate", "1"}, `--arrival "bursty"`},
		{[]string{"run", "--endpoint", "http://127.0.0.1:1", "--concurrency", "2", "--rate", "3"}, "more than one of"},
		{[]string{"run", "--endpoint", "http://127.0.0.1:1", "--trace", filepath.Join(t.TempDir(), "missing.jsonl")}, "missing.jsonl"},
		{[]string{"run", "--endpoint", "http://127.0.0.1:1", "--count", "1"}, "list models at http://127.0.0.1:1"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(t.Context(), tc.args, &stdout, &stderr)
		assert.Equal(t, 2, code, strings.Join(tc.args, " "))
		assert.Contains(t, stderr.String(), tc.want, strings.Join(tc.args, " "))
	}
}

func TestRunCommandEngineWorkloadsAndFields(t *testing.T) {
	srv := mock.Start(t, mock.Config{SpeedupRatio: 20})
	out := t.TempDir()
	code, stdout, errs := runCmd(t, "run", "--endpoint", srv.BaseURL(), "--engine", "mock", "--workload", "shared-prefix",
		"--isl", "256", "--osl", "4", "--requests", "8", "--prefix-ratio", "0.5", "--num-prefixes", "2", "--concurrency", "2",
		"--count", "2", "--extra", `{"top_k":1}`, "--out", out, "--name", "Shared")
	require.Equal(t, 0, code, "stderr: %s", errs)
	assert.Contains(t, stdout, "Shared: 2 repetitions, 16 requests: ok=16", "outcome totals printed")
	rf, err := resultfile.Read(filepath.Join(out, "Shared.txt"))
	require.NoError(t, err)
	assert.Equal(t, "yes", rf.ConfigValue("cache-reset"), "--engine mock resets the simulator's cache")
	assert.Equal(t, "shared-prefix", rf.ConfigValue("workload"))
	assert.NotEqual(t, "unavailable", rf.ConfigValue("server-metrics"))
	assert.NotEmpty(t, rf.Values("server-prefix-hit-ratio"), "and reads its metrics")
	recs, err := os.ReadFile(filepath.Join(out, "Shared.records.jsonl"))
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(recs), `{"rep":1,`), "repetitions numbered from 1, as the messages say")

	code, _, errs = runCmd(t, "run", "--endpoint", srv.BaseURL(), "--workload", "multi-turn", "--sessions", "2", "--turns", "2",
		"--isl", "16", "--osl", "2", "--count", "1", "--out", t.TempDir())
	assert.Equal(t, 0, code, errs)
	assert.Contains(t, errs, "cache reset: the target cannot empty its prefix cache", "a plain endpoint says what it cannot do")

	for _, tc := range []struct{ args, want string }{
		{"--engine nope", `--engine "nope": want one of dynamo, llamacpp, mock, sglang, trtllm, vllm`},
		{"--workload zipf", `--workload "zipf"`},
		{"--extra [1]", `--extra "[1]": want a JSON object`},
		{"--model does-not-exist", `model "does-not-exist" is not served by`},
	} {
		args := append([]string{"run", "--endpoint", srv.BaseURL(), "--count", "1"}, strings.Fields(tc.args)...)
		code, _, errs := runCmd(t, args...)
		assert.Equal(t, 2, code, tc.args)
		assert.Contains(t, errs, tc.want, tc.args)
	}
}

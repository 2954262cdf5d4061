package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/backends/mock"
)

// TestCommandsIgnorePerfEndpoint: PERFGATE_ENDPOINT is the environment form of the
// -perf.endpoint flag of perf cases. Only the go test entry points read it: with it set to
// a dead port, perfgate calibrate, perfgate run --endpoint URL and perfgate ab behave
// exactly as without it. The test runs the commands in a child test binary whose
// environment has the variable, as a user's shell would.
func TestCommandsIgnorePerfEndpoint(t *testing.T) {
	if os.Getenv("PERFGATE_TEST_CHILD") == "endpoint" {
		commandsWithDeadEndpoint(t)
		return
	}
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestCommandsIgnorePerfEndpoint$", "-test.v")
	cmd.Env = append(os.Environ(), "PERFGATE_TEST_CHILD=endpoint", "PERFGATE_ENDPOINT=http://127.0.0.1:9", "GITHUB_STEP_SUMMARY=")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "child:\n%s", out)
	assert.Contains(t, string(out), "--- PASS: TestCommandsIgnorePerfEndpoint")
}

func commandsWithDeadEndpoint(t *testing.T) {
	require.Equal(t, "http://127.0.0.1:9", os.Getenv("PERFGATE_ENDPOINT"))
	srv := mock.Start(t, mock.Config{Model: "sim", SpeedupRatio: 20})
	dead := func(what, out string) {
		assert.NotContains(t, out, "127.0.0.1:9", what)
		assert.NotContains(t, out, "perf.endpoint", what)
	}

	code, out, errs := runCmd(t, "calibrate", "--streams", "1,2", "--tokens", "4", "--ttft", "2ms", "--itl", "1ms",
		"--rate", "100", "--pacing-requests", "20", "--memory-streams", "4")
	assert.Equal(t, 0, code, "calibrate: %s", errs)
	dead("calibrate", out+errs)

	code, out, errs = runCmd(t, "run", "--endpoint", srv.BaseURL(), "--isl", "16", "--osl", "4", "--requests", "4",
		"--concurrency", "2", "--count", "2", "--out", t.TempDir())
	assert.Equal(t, 0, code, "run: %s", errs)
	assert.Contains(t, out, "ok=8", "run: every request went to --endpoint")
	dead("run", out+errs)

	code, out, errs = runCmd(t, "ab", "--a", srv.BaseURL(), "--b", srv.BaseURL(), "--isl", "16", "--osl", "4", "--requests", "4",
		"--concurrency", "2", "--count", "4", "--quiet")
	assert.Contains(t, []int{0, 1}, code, "ab ran to a verdict: %s", errs)
	assert.True(t, strings.HasPrefix(out, "PerfAB: "), "ab report:\n%s", out)
	dead("ab", out+errs)
}

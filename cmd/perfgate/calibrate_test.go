package main

import (
	"bytes"
	"testing"

	"github.com/perfgate/perfgate/internal/golden"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCalibrateCommand(t *testing.T) {
	for _, mode := range []string{"burst", "per-stream"} {
		var stdout, stderr bytes.Buffer
		code := run(t.Context(), []string{"calibrate", "--mode", mode, "--streams", "1,4", "--tokens", "4", "--ttft", "2ms", "--itl", "1ms",
			"--rate", "100", "--pacing-requests", "20", "--memory-streams", "10"}, &stdout, &stderr)
		require.Equal(t, 0, code, stderr.String())
		assert.Contains(t, stdout.String(), "ITL p99 error")
		assert.Contains(t, stdout.String(), "pacing:")
		assert.Contains(t, stdout.String(), "server: "+mode)
	}

	var stdout, stderr bytes.Buffer
	assert.Equal(t, 2, run(t.Context(), []string{"calibrate", "--streams", "1,x"}, &stdout, &stderr))
	assert.Contains(t, stderr.String(), `"x" is not a positive count`)
	stderr.Reset()
	assert.Equal(t, 2, run(t.Context(), []string{"calibrate", "--mode", "fast"}, &stdout, &stderr))
	assert.Contains(t, stderr.String(), `"fast" is neither burst nor per-stream`)
}

func TestCalibrateUsageGolden(t *testing.T) {
	_, out, _ := runCmd(t, "calibrate", "-h")
	golden.Check(t, "calibrate-help", []byte(out))
}

package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCalibrateCommand(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"calibrate", "--streams", "1,4", "--tokens", "4", "--ttft", "2ms", "--itl", "1ms",
		"--rate", "100", "--pacing-requests", "20", "--memory-streams", "10"}, &stdout, &stderr)
	require.Equal(t, 0, code, stderr.String())
	assert.Contains(t, stdout.String(), "ITL p99 error")
	assert.Contains(t, stdout.String(), "pacing:")

	stderr.Reset()
	assert.Equal(t, 2, run(t.Context(), []string{"calibrate", "--streams", "1,x"}, &stdout, &stderr))
	assert.Contains(t, stderr.String(), `"x" is not a positive count`)
}

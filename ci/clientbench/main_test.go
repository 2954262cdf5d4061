//go:build unix

package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// startInProcess runs the SSE server in the test's process.
func startInProcess(t *testing.T, flood bool) string {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- serveSSE(ctx, pw, 0, flood) }()
	line, err := bufio.NewReader(pr).ReadString('\n')
	require.NoError(t, err)
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done)
		http.DefaultClient.CloseIdleConnections()
	})
	return strings.TrimSpace(line)
}

// TestMeasure checks that both clients receive every token of every request from both
// servers, and that the memory probe holds the streams it says it holds.
func TestMeasure(t *testing.T) {
	for _, flood := range []bool{false, true} {
		url := startInProcess(t, flood)
		for _, measure := range []func(context.Context, string, int, int, int) (measurement, error){measure, floorMeasure} {
			m, err := measure(t.Context(), url, 4, 50, 12)
			require.NoError(t, err)
			assert.Equal(t, 12, m.requests)
			assert.Equal(t, 12*50, m.tokens, "flood %v", flood)
		}
	}
	var out strings.Builder
	require.NoError(t, holdStreams(t.Context(), &out, startInProcess(t, false), 20, ""))
	assert.Contains(t, out.String(), "streams held open: 20")
	assert.Contains(t, out.String(), "client heap per in-flight stream")
}

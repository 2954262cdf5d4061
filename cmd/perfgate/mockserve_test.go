package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/backends/mock"
)

// serveMock runs perfgate mock's serve loop on a free loopback port with cfg (short
// timeouts for the test) until the test ends, and returns the address.
func serveMock(t *testing.T, cfg mock.Config) string {
	t.Helper()
	srv, err := mock.New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, _ = serveUntilDone(ctx, mockOptions{host: "127.0.0.1"}, io.Discard, srv, func(a net.Addr) string {
			addr <- a.String()
			return ""
		})
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
	return <-addr
}

// closedBy reads from conn until the server closes it, and reports what it answered. The
// read deadline only turns a server that holds the connection for good into a failure.
func closedBy(t *testing.T, conn net.Conn) string {
	t.Helper()
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(time.Minute)))
	b, err := io.ReadAll(conn)
	assert.False(t, errors.Is(err, os.ErrDeadlineExceeded), "the server still holds the connection after a minute")
	return string(b)
}

// Issue 23: perfgate mock held slow request bodies and idle kept-alive connections
// forever (2,000 of them); a body must arrive within BodyTimeout, and an idle connection
// is closed after IdleTimeout.
func TestMockServerDropsSlowAndIdleClients(t *testing.T) {
	addr := serveMock(t, mock.Config{BodyTimeout: 200 * time.Millisecond, IdleTimeout: 200 * time.Millisecond})

	slow, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer slow.Close()
	_, err = io.WriteString(slow, "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"model\"")
	require.NoError(t, err)
	got := closedBy(t, slow)
	assert.Contains(t, got, "HTTP/1.1 400", "a body that never finishes is answered and dropped")

	idle, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer idle.Close()
	_, err = io.WriteString(idle, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(idle), nil)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	closedBy(t, idle) // kept alive, then closed once idle
}

// The timeouts do not cut a stream that lasts longer than both: the body deadline is
// lifted once the body is in.
func TestMockServerLongStreamOutlastsTimeouts(t *testing.T) {
	addr := serveMock(t, mock.Config{BodyTimeout: 50 * time.Millisecond, IdleTimeout: 50 * time.Millisecond, SpeedupRatio: 0.5})
	body := `{"model":"` + mock.DefaultModel + `","prompt":[1,2,3,4],"max_tokens":40,"ignore_eos":true,"stream":true}`
	start := time.Now()
	resp, err := http.Post("http://"+addr+"/v1/completions", "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Greater(t, time.Since(start), 100*time.Millisecond, "the stream must outlast the timeouts for the test to mean anything")
	assert.Equal(t, 40, strings.Count(string(b), `"text"`), "every token arrived")
	assert.True(t, strings.HasSuffix(string(b), "data: [DONE]\n\n"))
}

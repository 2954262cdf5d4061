package perftest

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/backends/llamacpp"
	"github.com/perfgate/perfgate/fixtures"
	"github.com/perfgate/perfgate/internal/fakeserver"
	"github.com/perfgate/perfgate/perftest/metric"
)

// TestCloseMidWriteIsResent: llama-server closes a kept-alive connection after every stream
// while announcing Keep-Alive, and the close lands while the next request is partly
// written; the server never read those requests (issue 23: "broken pipe" in 3 of 4 runs,
// health: error-rate). Each is resent on a fresh connection and counted, never failed.
func TestCloseMidWriteIsResent(t *testing.T) {
	srv := fakeserver.Start(t, fakeserver.Config{Fault: fakeserver.CloseMidWrite})
	res, err := Execute(t.Context(), Case{Target: srv, Workload: fixtures.Synthetic{ISL: 2048, OSL: 4, Prompts: 250, Seed: 1},
		Load: Concurrency(4), Count: 4, Warmup: -1}, ExecOptions{})
	require.NoError(t, err)
	requests, retries := 0, 0
	for _, rep := range res.Reps {
		requests += rep.Requests
		retries += rep.Diag.Retries
		assert.Equal(t, rep.Requests, rep.Outcomes[OK], "no request failed: %s", firstError(rep.Records))
	}
	assert.Equal(t, 1000, requests)
	assert.Positive(t, retries, "resends are counted")
	assert.Equal(t, int64(requests), srv.Requests(), "the server read every request once")
	t.Logf("%d requests, %d resent, %d connections", requests, retries, srv.Connections())
}

// TestResetOnAFreshConnectionIsAFailure: a server that resets every new connection without
// answering is broken, not racing a keep-alive close: nothing is resent.
func TestResetOnAFreshConnectionIsAFailure(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			_, _ = conn.Read(make([]byte, 1))
			_ = conn.(*net.TCPConn).SetLinger(0)
			_ = conn.Close()
		}
	})
	res, err := Execute(t.Context(), Case{Target: Endpoint("http://" + l.Addr().String() + "/v1"), Model: "m",
		Workload: small, Load: Concurrency(1), Count: 1, Warmup: -1}, ExecOptions{})
	require.NoError(t, err)
	rep := res.Reps[0]
	assert.Equal(t, rep.Requests, rep.Outcomes[ConnError], "every request failed: %s", firstError(rep.Records))
	assert.Zero(t, rep.Diag.Retries, "nothing resent")
}

// TestLlamaCppQueueIsAResultMetric: llama-server with one slot (-np 1) at concurrency 4 holds
// three requests waiting; its queue, llamacpp:requests_deferred, was scraped and dropped
// (issue 23: "server-metrics: none").
func TestLlamaCppQueueIsAResultMetric(t *testing.T) {
	srv := fakeserver.Start(t, fakeserver.Config{Fault: fakeserver.OneSlot, ITL: 2 * time.Millisecond, Vocab: 1 << 17})
	res, err := Execute(t.Context(), Case{Target: llamacpp.Endpoint(srv.URL), Workload: fixtures.Synthetic{ISL: 16, OSL: 100, Prompts: 8, Seed: 1},
		Load: Concurrency(4), Count: 1, Warmup: -1}, ExecOptions{})
	require.NoError(t, err)
	peak := res.Value(metric.ServerWaitingPeak)
	require.Len(t, peak, 1, "the queue is a result metric")
	assert.GreaterOrEqual(t, peak[0], 2.0, "three requests wait for the one slot")
	assert.Equal(t, "waiting-peak", res.ConfigValue(metric.KeyServerMetrics))
}

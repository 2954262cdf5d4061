package perftest

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/backends/mock"
	"github.com/perfgate/perfgate/fixtures"
)

// failFirstAfterReset is a simulator behind a proxy whose cache reset does nothing, and
// whose first request after each reset but the first fails inside its stream before any
// token (no usage), as an engine's in-stream error does.
type failFirstAfterReset struct {
	srv    *mock.Server
	front  *httptest.Server
	resets atomic.Int32
	armed  atomic.Bool
}

func newFailFirstAfterReset(t *testing.T) *failFirstAfterReset {
	f := &failFirstAfterReset{srv: mock.Start(t, mock.Config{SpeedupRatio: 50})}
	u, err := url.Parse(f.srv.BaseURL())
	require.NoError(t, err)
	proxy := httputil.NewSingleHostReverseProxy(u)
	proxy.FlushInterval = -1
	f.front = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/completions" && f.armed.CompareAndSwap(true, false) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, "data: {\"error\":{\"message\":\"slot unavailable\",\"code\":500}}\n\ndata: [DONE]\n\n")
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(f.front.Close)
	return f
}

func (f *failFirstAfterReset) BaseURL() string { return f.front.URL }
func (f *failFirstAfterReset) ResetPrefixCache(context.Context) error {
	f.armed.Store(f.resets.Add(1) > 1)
	return nil
}

// TestResetCheckIgnoresFailedRequests: one request failing in its stream early in a
// repetition has no usage, so no cached-token count: it says nothing about the cache
// (issue 23: it counted as "found nothing cached" and the reset passed, "cache-reset: yes",
// while the other early requests found 920 of 921 prompt tokens cached).
func TestResetCheckIgnoresFailedRequests(t *testing.T) {
	target := newFailFirstAfterReset(t)
	res, err := Execute(t.Context(), Case{Target: target, Workload: fixtures.Synthetic{ISL: 256, OSL: 4, Prompts: 8, Seed: 1},
		Load: Concurrency(4), Count: 2, Warmup: -1, MaxErrorRate: 0.5}, ExecOptions{})
	require.NoError(t, err)
	require.Len(t, res.Reps, 2)
	require.Equal(t, 1, res.Reps[1].Requests-res.Reps[1].Outcomes[OK], "the first request of repetition 2 failed")
	assert.Equal(t, "ineffective", res.ConfigValue("cache-reset"), "the requests that answered found the cache warm")
}

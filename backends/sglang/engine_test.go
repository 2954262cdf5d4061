package sglang_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/perfgate/perfgate/backends/sglang"
)

// TestFlushWaitsForIdle: SGLang answers /flush_cache with 400 while requests are still in
// the engine (srt/managers/scheduler_components/flush_wrapper.py); the reset retries.
func TestFlushWaitsForIdle(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/flush_cache" || r.URL.Query().Get("timeout") == "" {
			http.NotFound(w, r)
			return
		}
		if calls.Add(1) < 3 {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, "Timed out waiting for idle state.")
			return
		}
		fmt.Fprint(w, "Cache flushed.\n")
	}))
	defer srv.Close()
	if err := sglang.Endpoint(srv.URL).ResetPrefixCache(t.Context()); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 3 {
		t.Errorf("%d calls, want 2 refusals and a flush", calls.Load())
	}
	if got := sglang.Engine.MetricNames["prefix-hits"]; got != `sglang:cached_tokens_total{cache_source="total"}|sglang:cached_tokens_total` {
		t.Errorf("prefix hits from %q", got)
	}
}

package perftest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// vllmNames is what the vllm module's MetricNames returns.
var vllmNames = map[string]string{
	"prefix-hits": "vllm:prefix_cache_hits_total", "prefix-queries": "vllm:prefix_cache_queries_total",
	"preemptions": "vllm:num_preemptions_total", "queue-time": "vllm:request_queue_time_seconds",
	"kv-usage": "vllm:kv_cache_usage_perc", "waiting": "vllm:num_requests_waiting",
}

func exposition(hits, queries, preempt, queueSum, queueCount, kv float64) string {
	return fmt.Sprintf(`# TYPE vllm:prefix_cache_hits_total counter
vllm:prefix_cache_hits_total{model_name="m"} %g
# TYPE vllm:prefix_cache_queries_total counter
vllm:prefix_cache_queries_total{model_name="m"} %g
# TYPE vllm:num_preemptions_total counter
vllm:num_preemptions_total{model_name="m"} %g
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{model_name="m"} %g
# TYPE vllm:request_queue_time_seconds histogram
vllm:request_queue_time_seconds_bucket{model_name="m",le="0.1"} %g
vllm:request_queue_time_seconds_bucket{model_name="m",le="+Inf"} %g
vllm:request_queue_time_seconds_sum{model_name="m"} %g
vllm:request_queue_time_seconds_count{model_name="m"} %g
`, hits, queries, preempt, kv, queueCount, queueCount, queueSum, queueCount)
}

func TestServerWindowMetrics(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := float64(n.Add(1))
		// Counters grow; KV usage peaks in the middle.
		kv := 0.2
		if i == 2 {
			kv = 0.9
		}
		fmt.Fprint(w, exposition(100*i, 400*i, i, 0.5*i, 10*i, kv))
	}))
	defer srv.Close()
	sc := &scraper{url: srv.URL, names: vllmNames, client: srv.Client()}
	stop := sc.watch(t.Context(), 20*time.Millisecond)
	time.Sleep(60 * time.Millisecond)
	w := stop()
	require.NotNil(t, w)
	got := map[string]float64{}
	for _, m := range w.metrics() {
		got[m.Unit] = m.Value
	}
	k := float64(n.Load() - 1) // scrapes between before and after
	assert.InDelta(t, 0.25, got["server-prefix-hit-ratio"], 1e-9)
	assert.InDelta(t, k, got["server-preemptions"], 1e-9)
	assert.InDelta(t, 0.05, got["server-queue-mean-sec"], 1e-9)
	assert.Equal(t, 0.9, got["server-kv-peak"])
}

func TestScraperWithoutMetrics(t *testing.T) {
	srv := newFakeServer(t, time.Millisecond, nil) // serves no /metrics
	stop := (&scraper{url: srv.URL + "/metrics", names: vllmNames, client: srv.Client()}).watch(t.Context(), time.Second)
	assert.Nil(t, stop().metrics())
	var none *scraper
	assert.Nil(t, none.watch(t.Context(), time.Second)().metrics(), "no scraper, no metrics")
}

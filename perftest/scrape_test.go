package perftest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func exposition(hits, queries, preempt, queueSum, queueCount, kv float64) string {
	return fmt.Sprintf(`# HELP vllm:prefix_cache_hits_total Prefix cache hits, in tokens.
# TYPE vllm:prefix_cache_hits_total counter
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

func TestParseScrape(t *testing.T) {
	s, err := ParseScrape(strings.NewReader(exposition(10, 40, 1, 2, 4, 0.25)))
	require.NoError(t, err)
	assert.Equal(t, 10.0, s[mPrefixHits])
	assert.Equal(t, 0.25, s[mKVUsage])
	assert.Equal(t, 2.0, s[mQueueTime+"_sum"])
	assert.Equal(t, 4.0, s[mQueueTime+"_count"])

	_, err = ParseScrape(strings.NewReader("vllm:x{model_name=\"m\" 1\n"))
	assert.ErrorContains(t, err, "parse metrics")
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
	sc := newScraper(srv.URL, srv.Client())
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
	stop := newScraper(srv.URL+"/metrics", srv.Client()).watch(t.Context(), time.Second)
	assert.Nil(t, stop().metrics())
}

func FuzzParseScrape(f *testing.F) {
	f.Add(exposition(1, 2, 3, 4, 5, 0.5))
	f.Add("# TYPE x summary\nx{quantile=\"0.5\"} 1\nx_sum 2\nx_count 3\n")
	f.Add("x 1 1700000000000\n# EOF\n")
	f.Fuzz(func(t *testing.T, in string) {
		s, err := ParseScrape(strings.NewReader(in))
		if err == nil && s == nil {
			t.Fatal("nil scrape without error")
		}
	})
}

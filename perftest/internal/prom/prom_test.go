package prom

import (
	"fmt"
	"strings"
	"testing"

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

func TestParse(t *testing.T) {
	s, _, err := Parse(strings.NewReader(exposition(10, 40, 1, 2, 4, 0.25)))
	require.NoError(t, err)
	assert.Equal(t, 10.0, s["vllm:prefix_cache_hits_total"])
	assert.Equal(t, 0.25, s["vllm:kv_cache_usage_perc"])
	assert.Equal(t, 2.0, s["vllm:request_queue_time_seconds_sum"])
	assert.Equal(t, 4.0, s["vllm:request_queue_time_seconds_count"])
	// Labels are summed over.
	s, _, err = Parse(strings.NewReader("# TYPE r gauge\nr{a=\"1\"} 2\nr{a=\"2\"} 3\n"))
	require.NoError(t, err)
	assert.Equal(t, 5.0, s["r"])

	// One label value at a time, as SGLang's cached_tokens_total needs.
	s, _, err = Parse(strings.NewReader("# TYPE c counter\nc{src=\"device\"} 2\nc{src=\"total\"} 5\n"))
	require.NoError(t, err)
	assert.Equal(t, 7.0, s["c"])
	assert.Equal(t, 5.0, s[`c{src="total"}`])
	// Non-finite values are dropped.
	s, dropped, err := Parse(strings.NewReader("# TYPE g gauge\ng NaN\n# TYPE h gauge\nh +Inf\n# TYPE k gauge\nk 1\n"))
	require.NoError(t, err)
	assert.Equal(t, Scrape{"k": 1}, s)
	assert.Equal(t, []string{"g", "h"}, dropped)

	_, _, err = Parse(strings.NewReader("vllm:x{model_name=\"m\" 1\n"))
	assert.ErrorContains(t, err, "parse metrics")
}

func FuzzParse(f *testing.F) {
	f.Add(exposition(1, 2, 3, 4, 5, 0.5))
	f.Add("# TYPE x summary\nx{quantile=\"0.5\"} 1\nx_sum 2\nx_count 3\n")
	f.Add("x 1 1700000000000\n# EOF\n")
	f.Fuzz(func(t *testing.T, in string) {
		s, _, err := Parse(strings.NewReader(in))
		if err == nil && s == nil {
			t.Fatal("nil scrape without error")
		}
	})
}

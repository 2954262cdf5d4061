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

// engineNames are an imaginary engine's series: what perftest reads comes from the
// target's MetricNames alone.
var engineNames = map[string]string{
	"prefix-hits": "eng_hits", "prefix-queries": "eng_lookups", "preemptions": "eng_evictions",
	"queue-time": "eng_wait_seconds", "kv-usage": "eng_kv", "waiting": "eng_queue",
}

func exposition(hits, queries, preempt, queueSum, queueCount, kv float64) string {
	return fmt.Sprintf("# TYPE eng_hits counter\neng_hits %g\n# TYPE eng_lookups counter\neng_lookups %g\n"+
		"# TYPE eng_evictions counter\neng_evictions %g\n# TYPE eng_kv gauge\neng_kv{rank=\"0\"} %g\n"+
		"# TYPE eng_wait_seconds summary\neng_wait_seconds_sum %g\neng_wait_seconds_count %g\n"+
		"# TYPE vllm:prefix_cache_hits_total counter\nvllm:prefix_cache_hits_total 1e9\n",
		hits, queries, preempt, kv, queueSum, queueCount)
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
	sc := &scraper{url: srv.URL, names: engineNames, client: srv.Client()}
	stop := sc.watch(t.Context(), 20*time.Millisecond)
	time.Sleep(60 * time.Millisecond)
	w, err := stop()
	require.NoError(t, err)
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
	stop := (&scraper{url: srv.URL + "/metrics", names: engineNames, client: srv.Client()}).watch(t.Context(), time.Second)
	w, err := stop()
	assert.ErrorContains(t, err, "HTTP 404")
	assert.Nil(t, w.metrics())
	var none *scraper
	w, err = none.watch(t.Context(), time.Second)()
	assert.NoError(t, err)
	assert.Nil(t, w.metrics(), "no scraper, no metrics")
}

func TestScraperNameAlternativesAndLabels(t *testing.T) {
	sc := &scraper{names: map[string]string{
		"kv-usage":    "new_kv|old_kv",
		"prefix-hits": `cached_total{source="total"}`,
	}}
	got := sc.pick(map[string]float64{"old_kv": 0.5, "cached_total": 30, `cached_total{source="total"}`: 10})
	assert.Equal(t, map[string]float64{"kv-usage": 0.5, "prefix-hits": 10}, got)
}

// A counter that went backwards (a server restarted mid-repetition) gives no figure, and
// says so, rather than a negative one a result file would refuse.
func TestCounterGoingBackwards(t *testing.T) {
	w := &serverWindow{before: map[string]float64{keyPreemptions: 12}, after: map[string]float64{keyPreemptions: 3}, peak: map[string]float64{}}
	for _, m := range w.metrics() {
		assert.NotEqual(t, "server-preemptions", m.Unit)
	}
	assert.Equal(t, []string{keyPreemptions}, w.backwards)
}

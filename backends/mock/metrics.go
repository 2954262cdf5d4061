package mock

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Histogram buckets as vLLM defines them.
var (
	ttftBuckets    = []float64{0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0}
	itlBuckets     = []float64{0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0}
	requestBuckets = []float64{0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0}
)

// The series the simulator exports that perftest reads (vLLM V1's names).
const (
	seriesQueries     = "vllm:prefix_cache_queries_total"
	seriesHits        = "vllm:prefix_cache_hits_total"
	seriesPreemptions = "vllm:num_preemptions_total"
	seriesQueueTime   = "vllm:request_queue_time_seconds"
	// A finished request's phases (vLLM V1's loggers.py observes them at its finish).
	seriesPrefillTime   = "vllm:request_prefill_time_seconds"
	seriesDecodeTime    = "vllm:request_decode_time_seconds"
	seriesInferenceTime = "vllm:request_inference_time_seconds"
	seriesWaiting       = "vllm:num_requests_waiting"
	seriesKVUsage       = "vllm:kv_cache_usage_perc"

	// Speculative decoding (vllm/v1/spec_decode/metrics.py registers the counters without
	// "_total"; the exposition adds it).
	seriesSpecDrafts      = "vllm:spec_decode_num_drafts_total"
	seriesSpecDraftTokens = "vllm:spec_decode_num_draft_tokens_total"
	seriesSpecAccepted    = "vllm:spec_decode_num_accepted_tokens_total"
)

// metricNames maps perftest's server metrics (see perftest.MetricsSource) to the series;
// with speculative decoding on (spec), its counters too.
func metricNames(spec bool) map[string]string {
	m := map[string]string{
		"prefix-hits": seriesHits, "prefix-queries": seriesQueries, "preemptions": seriesPreemptions,
		"queue-time": seriesQueueTime, "kv-usage": seriesKVUsage, "waiting": seriesWaiting,
		"prefill-time": seriesPrefillTime, "decode-time": seriesDecodeTime, "inference-time": seriesInferenceTime,
	}
	if spec {
		m["spec-drafts"], m["spec-draft-tokens"], m["spec-accepted-tokens"] = seriesSpecDrafts, seriesSpecDraftTokens, seriesSpecAccepted
	}
	return m
}

// metrics exposes the engine in vLLM's Prometheus names, labelled model_name.
type metrics struct {
	reg                                                 *prometheus.Registry
	queries, hits, promptTokens, genTokens, preemptions prometheus.Counter
	successLength, successAbort, successStop            prometheus.Counter
	ttft, itl, e2e, queue                               prometheus.Histogram
	prefill, decode, inference                          prometheus.Histogram
	mmQueries, mmHits                                   prometheus.Counter
}

func newMetrics(model string, gauges func() (running, waiting int, kvUsage float64)) *metrics {
	lab := prometheus.Labels{"model_name": model}
	reg := prometheus.NewRegistry()
	counter := func(name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: lab})
		reg.MustRegister(c)
		return c
	}
	hist := func(name, help string, b []float64) prometheus.Histogram {
		h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: b, ConstLabels: lab})
		reg.MustRegister(h)
		return h
	}
	gauge := func(name, help string, f func() float64) {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: lab}, f))
	}
	m := &metrics{reg: reg}
	m.queries = counter(seriesQueries, "Prefix cache queries, in terms of number of queried tokens.")
	m.hits = counter(seriesHits, "Prefix cache hits, in terms of number of cached tokens.")
	m.promptTokens = counter("vllm:prompt_tokens_total", "Number of prefill tokens processed.")
	m.genTokens = counter("vllm:generation_tokens_total", "Number of generation tokens processed.")
	m.preemptions = counter(seriesPreemptions, "Cumulative number of preemption from the engine.")
	success := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vllm:request_success_total",
		Help: "Count of successfully processed requests.", ConstLabels: lab}, []string{"finished_reason"})
	reg.MustRegister(success)
	m.successStop = success.WithLabelValues("stop")
	m.successLength = success.WithLabelValues("length")
	m.successAbort = success.WithLabelValues("abort")
	m.ttft = hist("vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.", ttftBuckets)
	m.itl = hist("vllm:inter_token_latency_seconds", "Histogram of inter-token latency in seconds.", itlBuckets)
	m.e2e = hist("vllm:e2e_request_latency_seconds", "Histogram of e2e request latency in seconds.", requestBuckets)
	m.queue = hist(seriesQueueTime, "Histogram of time spent in WAITING phase for request.", requestBuckets)
	m.prefill = hist(seriesPrefillTime, "Histogram of time spent in PREFILL phase for request.", requestBuckets)
	m.decode = hist(seriesDecodeTime, "Histogram of time spent in DECODE phase for request.", requestBuckets)
	m.inference = hist(seriesInferenceTime, "Histogram of time spent in RUNNING phase for request.", requestBuckets)
	m.mmQueries = counter("vllm:mm_cache_queries_total", "Multi-modal cache queries, in terms of number of queried items.")
	m.mmHits = counter("vllm:mm_cache_hits_total", "Multi-modal cache hits, in terms of number of cached items.")
	gauge("vllm:num_requests_running", "Number of requests in model execution batches.", func() float64 { r, _, _ := gauges(); return float64(r) })
	gauge(seriesWaiting, "Number of requests waiting to be processed.", func() float64 { _, w, _ := gauges(); return float64(w) })
	gauge(seriesKVUsage, "KV-cache usage. 1 means 100 percent usage.", func() float64 { _, _, u := gauges(); return u })
	return m
}

// cacheConfig exports vLLM's vllm:cache_config_info: a gauge of 1 whose labels describe
// the KV cache (block_size, num_gpu_blocks), which profilers read to know the capacity.
func (m *metrics) cacheConfig(model string, cfg Config) {
	blocks := strconv.Itoa(cfg.NumGPUBlocks)
	if cfg.UnlimitedKVCache {
		blocks = "0"
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "vllm:cache_config_info", Help: "Information of the LLMEngine CacheConfig",
		ConstLabels: prometheus.Labels{"model_name": model, "block_size": strconv.Itoa(cfg.BlockSize), "num_gpu_blocks": blocks,
			"enable_prefix_caching": strconv.FormatBool(!cfg.DisablePrefixCaching)}})
	g.Set(1)
	m.reg.MustRegister(g)
}

// speculative exports vLLM's speculative decoding counters for k draft positions, read
// from the engine's totals through read (which holds the engine's lock while it calls its
// argument): vllm:spec_decode_num_drafts_total, ..._num_draft_tokens_total,
// ..._num_accepted_tokens_total and ..._num_accepted_tokens_per_pos_total{position}.
func (m *metrics) speculative(model string, k int, read func(func(*specTotals) float64) float64) {
	counter := func(name, help string, lab prometheus.Labels, f func(*specTotals) float64) {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: lab},
			func() float64 { return read(f) }))
	}
	lab := prometheus.Labels{"model_name": model}
	counter(seriesSpecDrafts, "Number of spec decoding drafts.", lab, func(t *specTotals) float64 { return float64(t.drafts) })
	counter(seriesSpecDraftTokens, "Number of draft tokens.", lab, func(t *specTotals) float64 { return float64(t.draftTokens) })
	counter(seriesSpecAccepted, "Number of accepted tokens.", lab, func(t *specTotals) float64 { return float64(t.accepted) })
	for pos := range k {
		counter("vllm:spec_decode_num_accepted_tokens_per_pos_total", "Accepted tokens per draft position.",
			prometheus.Labels{"model_name": model, "position": strconv.Itoa(pos)},
			func(t *specTotals) float64 { return float64(t.perPos[pos]) })
	}
}

// metrics implements hooks.

func (m *metrics) admitted(s *seq, now time.Duration) {
	m.queries.Add(float64(s.promptLen))
	m.hits.Add(float64(s.cachedTokens))
	m.promptTokens.Add(float64(s.promptLen))
	m.queue.Observe((now - s.arrival).Seconds())
}

func (m *metrics) token(s *seq, now time.Duration) {
	m.genTokens.Add(float64(s.stepTokens))
	if s.generated == int(s.stepTokens) {
		m.ttft.Observe((now - s.arrival).Seconds())
	} else {
		m.itl.Observe((now - s.lastToken).Seconds())
	}
}

func (m *metrics) finished(s *seq, now time.Duration, why finishReason) {
	switch why {
	case finishAbort:
		m.successAbort.Inc()
		return
	case finishStop:
		m.successStop.Inc()
	default:
		m.successLength.Inc()
	}
	m.e2e.Observe((now - s.arrival).Seconds())
	if s.generated > 0 {
		m.prefill.Observe((s.firstToken - s.scheduled).Seconds())
		m.decode.Observe((s.lastToken - s.firstToken).Seconds())
		m.inference.Observe((s.lastToken - s.scheduled).Seconds())
	}
}

func (m *metrics) preempted(*seq, time.Duration) { m.preemptions.Inc() }

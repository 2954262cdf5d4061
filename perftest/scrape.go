package perftest

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// MetricsTarget is implemented by targets whose Prometheus metrics are not at
// BaseURL()+"/metrics".
type MetricsTarget interface {
	MetricsURL() string
}

// Scrape is one reading of a server's /metrics: every series summed over its labels,
// histograms and summaries as NAME_sum and NAME_count.
type Scrape map[string]float64

// ParseScrape parses Prometheus text exposition.
func ParseScrape(r io.Reader) (Scrape, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parse metrics: %w", err)
	}
	s := Scrape{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				s[name] += m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				s[name] += m.GetGauge().GetValue()
			case dto.MetricType_UNTYPED:
				s[name] += m.GetUntyped().GetValue()
			case dto.MetricType_HISTOGRAM:
				s[name+"_sum"] += m.GetHistogram().GetSampleSum()
				s[name+"_count"] += float64(m.GetHistogram().GetSampleCount())
			case dto.MetricType_SUMMARY:
				s[name+"_sum"] += m.GetSummary().GetSampleSum()
				s[name+"_count"] += float64(m.GetSummary().GetSampleCount())
			}
		}
	}
	return s, nil
}

// vLLM's metric names (the simulator serves the same ones). Other engines' names can be
// added here; a metric the server does not export is simply not reported.
const (
	mPrefixHits    = "vllm:prefix_cache_hits_total"
	mPrefixQueries = "vllm:prefix_cache_queries_total"
	mPreemptions   = "vllm:num_preemptions_total"
	mQueueTime     = "vllm:request_queue_time_seconds"
	mKVUsage       = "vllm:kv_cache_usage_perc"
	mWaiting       = "vllm:num_requests_waiting"
)

// scraper reads a server's metrics before and after a repetition and samples gauges in
// between for their peaks.
type scraper struct {
	url    string
	client *http.Client
}

func newScraper(url string, hc *http.Client) *scraper { return &scraper{url: url, client: hc} }

func (s *scraper) scrape(ctx context.Context) (Scrape, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", s.url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil, fmt.Errorf("scrape %s: HTTP %d", s.url, resp.StatusCode)
	}
	sc, err := ParseScrape(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", s.url, err)
	}
	return sc, nil
}

// serverWindow holds what was scraped around one repetition.
type serverWindow struct {
	before, after Scrape
	mu            sync.Mutex
	peak          Scrape // maxima of sampled gauges
}

// watch scrapes before, samples gauges every interval until stop is called, and scrapes
// after. It returns nil when the server exports no metrics.
func (s *scraper) watch(ctx context.Context, interval time.Duration) (stop func() *serverWindow) {
	w := &serverWindow{peak: Scrape{}}
	before, err := s.scrape(ctx)
	if err != nil {
		return func() *serverWindow { return nil }
	}
	w.before = before
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				if sc, err := s.scrape(ctx); err == nil {
					w.sample(sc)
				}
			}
		}
	})
	return func() *serverWindow {
		close(quit)
		wg.Wait()
		after, err := s.scrape(ctx)
		if err != nil {
			return nil
		}
		w.after = after
		w.sample(after)
		return w
	}
}

func (w *serverWindow) sample(sc Scrape) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, k := range []string{mKVUsage, mWaiting} {
		if v, ok := sc[k]; ok {
			w.peak[k] = math.Max(w.peak[k], v)
		}
	}
}

// metrics turns the window into result metrics: prefix-cache hit ratio, preemptions, mean
// queue time and peak KV-cache usage, for those the server exports.
func (w *serverWindow) metrics() []Metric {
	if w == nil {
		return nil
	}
	delta := func(k string) (float64, bool) {
		a, ok1 := w.after[k]
		b, ok2 := w.before[k]
		return a - b, ok1 && ok2
	}
	var m []Metric
	if q, ok := delta(mPrefixQueries); ok && q > 0 {
		if h, ok := delta(mPrefixHits); ok {
			m = append(m, Metric{"server-prefix-hit-ratio", h / q})
		}
	}
	if p, ok := delta(mPreemptions); ok {
		m = append(m, Metric{"server-preemptions", p})
	}
	if n, ok := delta(mQueueTime + "_count"); ok && n > 0 {
		if sum, ok := delta(mQueueTime + "_sum"); ok {
			m = append(m, Metric{"server-queue-mean-sec", sum / n})
		}
	}
	if v, ok := w.peak[mKVUsage]; ok {
		m = append(m, Metric{"server-kv-peak", v})
	}
	return m
}

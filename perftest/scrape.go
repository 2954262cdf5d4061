package perftest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/perfgate/perfgate/perftest/internal/prom"
	"github.com/perfgate/perfgate/perftest/metric"
	"github.com/perfgate/perfgate/perftest/resultfile"
)

// Keys of MetricsSource.MetricNames: perfgate's server metrics, whatever the engine calls
// them.
const (
	keyPrefixHits    = "prefix-hits"
	keyPrefixQueries = "prefix-queries"
	keyPreemptions   = "preemptions"
	keyQueueTime     = "queue-time"
	// The server's per-request phases, histograms in seconds.
	keyPrefillTime   = "prefill-time"
	keyDecodeTime    = "decode-time"
	keyInferenceTime = "inference-time"
	keyKVUsage       = "kv-usage"
	keyWaiting       = "waiting"
	// Speculative decoding (spec.go).
	keySpecDrafts         = "spec-drafts"
	keySpecDraftTokens    = "spec-draft-tokens"
	keySpecAcceptedTokens = "spec-accepted-tokens"
	keySpecAcceptance     = "spec-acceptance"
	keySpecAcceptLength   = "spec-accept-length"
	// Where the server's per-request account is, rather than series (join.go).
	keyOTLPTraces  = "otlp-traces"
	keyPerfMetrics = "perf-metrics"
)

// histogramMeans are the histograms of the server's phases whose means the repetition
// records, each with its metric.
var histogramMeans = []struct{ key, unit string }{
	{keyQueueTime, metric.ServerQueueMean}, {keyPrefillTime, metric.ServerPrefillMean},
	{keyDecodeTime, metric.ServerDecodeMean}, {keyInferenceTime, metric.ServerInferenceMean},
}

// seriesNames are the keys of names that name series: all but where the server's
// per-request account is.
func seriesNames(names map[string]string) map[string]string {
	out := maps.Clone(names)
	delete(out, keyOTLPTraces)
	delete(out, keyPerfMetrics)
	return out
}

// maxScrapeBytes bounds one /metrics answer; an engine's exposition is tens of kilobytes.
const maxScrapeBytes = 16 << 20

// scraper reads a server's metrics before and after a repetition and samples gauges in
// between for their peaks. names maps perfgate's keys to the engine's series.
type scraper struct {
	url    string
	names  map[string]string
	client *http.Client
}

// scrape reads the server's metrics once. dropped names series with non-finite values.
func (s *scraper) scrape(ctx context.Context) (sc prom.Scrape, dropped []string, err error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, nil, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("scrape %s: %w", s.url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		return nil, nil, fmt.Errorf("scrape %s: HTTP %d", s.url, resp.StatusCode)
	}
	// Read first, parse after: an oversized answer is refused as soon as it passes the
	// limit, however slow its parsing would be.
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxScrapeBytes+1))
	if err != nil {
		return nil, nil, fmt.Errorf("scrape %s: %w", s.url, err)
	}
	if len(body) > maxScrapeBytes {
		return nil, nil, fmt.Errorf("scrape %s: the exposition is over %d MiB (an engine's is tens of kilobytes)", s.url, maxScrapeBytes>>20)
	}
	sc, dropped, err = prom.Parse(bytes.NewReader(body))
	if err != nil {
		return nil, nil, fmt.Errorf("scrape %s: %w", s.url, err)
	}
	return sc, dropped, nil
}

// serverWindow holds what was scraped around one repetition, keyed by perfgate's names.
type serverWindow struct {
	before, after map[string]float64
	mu            sync.Mutex
	peak          map[string]float64 // maxima of sampled gauges
	sum, n        map[string]float64 // sums and counts of sampled gauges, for their means
	backwards     []string           // counters that went backwards (set by metrics)
	dropped       []string           // series with non-finite values
	timeline      []serverSample     // the sampled queue and KV usage, for the report
}

// serverSample is the server's queue and KV-cache usage at one time, as sampled during a
// repetition: a point of the report's timeline (NAME.server.jsonl).
type serverSample struct {
	at          time.Time
	waiting, kv float64
	has         uint8 // hasWaiting | hasKV
}

const (
	hasWaiting = 1 << iota
	hasKV
)

// watch scrapes before, samples gauges every interval until stop is called, and scrapes
// after. stop returns nil and the error when the server's metrics could not be read. A nil
// scraper watches nothing.
func (s *scraper) watch(ctx context.Context, interval time.Duration) (stop func() (*serverWindow, error)) {
	if s == nil {
		return func() (*serverWindow, error) { return nil, nil }
	}
	w := &serverWindow{peak: map[string]float64{}, sum: map[string]float64{}, n: map[string]float64{}}
	before, dropped, err := s.scrape(ctx)
	if err != nil {
		return func() (*serverWindow, error) { return nil, err }
	}
	w.before, w.dropped = s.pick(before), dropped
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
				if sc, _, err := s.scrape(ctx); err == nil {
					w.sample(s.pick(sc))
				}
			}
		}
	})
	return func() (*serverWindow, error) {
		close(quit)
		wg.Wait()
		after, dropped, err := s.scrape(ctx)
		if err != nil {
			return nil, err
		}
		w.after = s.pick(after)
		w.sample(w.after)
		for _, d := range dropped {
			if !slices.Contains(w.dropped, d) {
				w.dropped = append(w.dropped, d)
			}
		}
		return w, nil
	}
}

// pick renames the engine's series to perfgate's keys, histograms with their _sum and
// _count. A name may list alternatives, "a|b" (the first the server exports is read, for
// engines that renamed a series), and select one label value, `name{label="value"}`.
func (s *scraper) pick(sc prom.Scrape) map[string]float64 {
	out := map[string]float64{}
	for key, names := range s.names {
		for name := range strings.SplitSeq(names, "|") {
			base, labels, _ := strings.Cut(name, "{")
			if labels != "" {
				labels = "{" + labels
			}
			found := false
			for _, suffix := range []string{"", "_sum", "_count"} {
				if v, ok := sc[base+suffix+labels]; ok {
					out[key+suffix] = v
					found = true
				}
			}
			if found {
				break
			}
		}
	}
	return out
}

func (w *serverWindow) sample(sc map[string]float64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	p := serverSample{at: time.Now()}
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	if v, ok := sc[keyWaiting]; ok && finite(v) {
		p.waiting, p.has = v, p.has|hasWaiting
	}
	if v, ok := sc[keyKVUsage]; ok && finite(v) {
		p.kv, p.has = v, p.has|hasKV
	}
	if p.has != 0 {
		w.timeline = append(w.timeline, p)
	}
	for _, k := range []string{keyKVUsage, keyWaiting} {
		if v, ok := sc[k]; ok {
			w.peak[k] = math.Max(w.peak[k], v)
		}
	}
	for _, k := range []string{keySpecAcceptance, keySpecAcceptLength} {
		if v, ok := sc[k]; ok {
			w.sum[k] += v
			w.n[k]++
		}
	}
}

// metrics turns the window into result metrics: prefix-cache hit ratio, preemptions, the
// mean queue, prefill, decode and inference times, peak KV-cache usage and the most
// requests waiting, for those the server exports.
func (w *serverWindow) metrics() []resultfile.Metric {
	if w == nil {
		return nil
	}
	delta := func(k string) (float64, bool) {
		a, ok1 := w.after[k]
		b, ok2 := w.before[k]
		if ok1 && ok2 && a < b {
			// A counter that went backwards: the server restarted during the repetition,
			// and the difference means nothing.
			w.backwards = append(w.backwards, k)
			return 0, false
		}
		return a - b, ok1 && ok2
	}
	var m []resultfile.Metric
	if q, ok := delta(keyPrefixQueries); ok && q > 0 {
		if h, ok := delta(keyPrefixHits); ok {
			m = append(m, resultfile.Metric{Unit: metric.ServerPrefixHitRatio, Value: h / q})
		}
	}
	if p, ok := delta(keyPreemptions); ok {
		m = append(m, resultfile.Metric{Unit: metric.ServerPreemptions, Value: p})
	}
	for _, h := range histogramMeans {
		if n, ok := delta(h.key + "_count"); ok && n > 0 {
			if sum, ok := delta(h.key + "_sum"); ok {
				m = append(m, resultfile.Metric{Unit: h.unit, Value: sum / n})
			}
		}
	}
	if v, ok := w.peak[keyKVUsage]; ok {
		m = append(m, resultfile.Metric{Unit: metric.ServerKVPeak, Value: v})
	}
	if v, ok := w.peak[keyWaiting]; ok {
		m = append(m, resultfile.Metric{Unit: metric.ServerWaitingPeak, Value: v})
	}
	return append(m, w.specMetrics(delta)...)
}

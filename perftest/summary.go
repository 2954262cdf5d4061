package perftest

import (
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/perfgate/perfgate/perftest/gate"
	"github.com/perfgate/perfgate/perftest/machine"
	"github.com/perfgate/perfgate/perftest/metric"
	"github.com/perfgate/perfgate/perftest/resultfile"
)

// GateOptions are the gate's options for perftest's metrics (gate.OptionsFor the default
// vocabulary, perftest/metric): each metric's direction and default threshold (5% for
// medians and rates, 8% for p90, 12% for p99, 0 for the error rate, 10% for the server's
// figures), every threshold replaced by threshold when it is above 0, at family-wise
// significance alpha (0: 0.05), with the machine figures shown and not tested and a
// regression that a measurably busier machine explains INCONCLUSIVE (see machine.Compare).
// The gate and `perfgate compare` use them.
func GateOptions(alpha, threshold float64) gate.Options {
	opt := gate.OptionsFor(nil, alpha, threshold)
	opt.Noise = machine.GateNoise(nil)
	return opt
}

// summary holds the aggregates of one repetition.
type summary struct {
	requests, failed int
	outcomes         map[Outcome]int
	ttft, itl, tpot  *hdrhistogram.Histogram
	e2e, ttfo        *hdrhistogram.Histogram
	outputTokens     int
	results          int           // results of pooling requests (embeddings, scores)
	promptTokens     int           // prompt tokens the server counted, of pooling requests
	pooled           int           // pooling requests that succeeded
	reasoned         int           // requests that streamed reasoning
	good             int           // requests meeting every SLO
	wall             time.Duration // first scheduled send to last completion
	tokenMismatch    int           // requests whose streamed tokens differ from the server's usage
	usageRefused     int           // requests whose usage held counts that cannot be true
	perChunk         int           // requests whose ITL is per chunk: uncounted tokens per chunk
	short            int           // requests that generated fewer tokens than asked for
	inputOff         int           // requests whose prompt the server counted far from intended
	retries          int           // resends after a closed kept-alive connection
}

// Latencies are recorded in microseconds, 1 µs to 1 hour, with 3 significant digits.
const histMaxMicros = int64(time.Hour / time.Microsecond)

func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(1, histMaxMicros, 3) }

// record adds d to h, clamped to [1 µs, 1 h]: hdrhistogram drops values out of its range.
func record(h *hdrhistogram.Histogram, d time.Duration) {
	_ = h.RecordValue(min(max(1, int64(d/time.Microsecond)), histMaxMicros))
}

func summarize(recs []Record, slo SLO) *summary {
	s := &summary{outcomes: map[Outcome]int{}, ttft: newHist(), itl: newHist(), tpot: newHist(), e2e: newHist(), ttfo: newHist()}
	var first, last time.Duration = -1, 0
	for i := range recs {
		r := &recs[i]
		s.requests++
		s.outcomes[r.Outcome]++
		s.retries += r.Retries
		if first < 0 || r.Scheduled < first {
			first = r.Scheduled
		}
		last = max(last, r.Scheduled+r.Done)
		if r.UsageError != "" {
			s.usageRefused++
		}
		if r.Outcome != OK {
			s.failed++
			continue
		}
		record(s.e2e, r.E2E())
		tpot := s.addTokens(r)
		if r.tokenMismatch() {
			s.tokenMismatch++
		}
		if r.coalesced() {
			s.perChunk++
		}
		if r.short() {
			s.short++
		}
		if r.inputOff() {
			s.inputOff++
		}
		if slo.set() && meets(r, slo, tpot) {
			s.good++
		}
	}
	if first >= 0 {
		s.wall = last - first
	}
	return s
}

// addTokens adds what a successful request streamed (TTFT, TTFO, ITL, TPOT, tokens), or
// what a pooling request took (results, prompt tokens), and returns its TPOT (0: none).
func (s *summary) addTokens(r *Record) time.Duration {
	if r.WantResults > 0 {
		s.pooled++
		s.results += r.Results
		s.promptTokens += r.InputTokens
		return 0
	}
	record(s.ttft, r.TTFT())
	if d, ok := r.TTFO(); ok {
		record(s.ttfo, d)
	}
	if r.StreamedReasoning > 0 {
		s.reasoned++
	}
	tpot, hasTPOT := r.TPOT()
	if hasTPOT {
		record(s.tpot, tpot)
	}
	r.ITLs(func(d time.Duration) { record(s.itl, d) })
	s.outputTokens += r.Generated()
	return tpot
}

func meets(r *Record, slo SLO, tpot time.Duration) bool {
	return (slo.TTFT == 0 || r.TTFT() <= slo.TTFT) &&
		(slo.TPOT == 0 || tpot <= slo.TPOT) &&
		(slo.ITL == 0 || r.MaxITL() <= slo.ITL) &&
		(slo.E2E == 0 || r.E2E() <= slo.E2E)
}

func pct(h *hdrhistogram.Histogram, q float64) float64 {
	return float64(h.ValueAtQuantile(q)) * 1e-6
}

// metrics turns a summary into the values written to the result line.
func (s *summary) metrics(slo SLO) []resultfile.Metric {
	secs := s.wall.Seconds()
	rate := func(n int) float64 {
		if secs <= 0 {
			return 0
		}
		return float64(n) / secs
	}
	m := make([]resultfile.Metric, 0, 16)
	for _, h := range []struct {
		p metric.Percentiles
		h *hdrhistogram.Histogram
	}{{metric.TTFT, s.ttft}, {metric.ITL, s.itl}, {metric.TPOT, s.tpot}, {metric.E2E, s.e2e}, {metric.TTFO, s.ttfo}} {
		if h.h.TotalCount() == 0 || h.p == metric.TTFO && s.reasoned == 0 {
			continue // without reasoning, the first output token is the first token
		}
		m = append(m,
			resultfile.Metric{Unit: h.p.P50, Value: pct(h.h, 50)},
			resultfile.Metric{Unit: h.p.P90, Value: pct(h.h, 90)},
			resultfile.Metric{Unit: h.p.P99, Value: pct(h.h, 99)})
	}
	m = append(m, resultfile.Metric{Unit: metric.RequestRate, Value: rate(s.requests - s.failed)})
	if s.pooled == 0 || s.outputTokens > 0 {
		m = append(m, resultfile.Metric{Unit: metric.TokenRate, Value: rate(s.outputTokens)})
	}
	if s.pooled > 0 {
		m = append(m, resultfile.Metric{Unit: metric.InputRate, Value: rate(s.results)}, resultfile.Metric{Unit: metric.PromptTokenRate, Value: rate(s.promptTokens)})
	}
	if slo.set() {
		m = append(m, resultfile.Metric{Unit: metric.Goodput, Value: rate(s.good)})
	}
	errRate := 0.0
	if s.requests > 0 {
		errRate = float64(s.failed) / float64(s.requests)
	}
	return append(m, resultfile.Metric{Unit: metric.ErrorRate, Value: errRate})
}

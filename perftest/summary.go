package perftest

import (
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/perfgate/perfgate/perftest/gate"
	"github.com/perfgate/perfgate/perftest/machine"
	"github.com/perfgate/perfgate/perftest/resultfile"
)

// metricDef describes a metric perftest writes: its direction and default threshold.
type metricDef struct {
	unit string
	// lowerBetter is true for latencies and error rates, false for rates.
	lowerBetter bool
	// threshold is the default smallest relative change that counts.
	threshold float64
}

// Tail percentiles move more from run to run than medians, so they get wider thresholds.
var metricDefs = []metricDef{
	{"ttft-p50-sec", true, 0.05}, {"ttft-p90-sec", true, 0.08}, {"ttft-p99-sec", true, 0.12},
	{"itl-p50-sec", true, 0.05}, {"itl-p90-sec", true, 0.08}, {"itl-p99-sec", true, 0.12},
	{"tpot-p50-sec", true, 0.05}, {"tpot-p90-sec", true, 0.08}, {"tpot-p99-sec", true, 0.12},
	{"e2e-p50-sec", true, 0.05}, {"e2e-p90-sec", true, 0.08}, {"e2e-p99-sec", true, 0.12},
	{"req/s", false, 0.05},
	{"tok/s", false, 0.05},
	{"goodput-req/s", false, 0.05},
	{"error-rate", true, 0.0},
	// Server-side metrics scraped from /metrics around each repetition.
	{"server-prefix-hit-ratio", false, 0.05},
	{"server-preemptions", true, 0.10},
	{"server-queue-mean-sec", true, 0.10},
	{"server-kv-peak", true, 0.10},
}

// lowerBetter reports a unit's direction: perftest's own for its metrics, lower for others.
func lowerBetter(unit string) bool {
	for _, d := range metricDefs {
		if d.unit == unit {
			return d.lowerBetter
		}
	}
	return true
}

// GateOptions are the gate's options for perftest's metrics: each metric's direction and
// default threshold (5% for medians and rates, 8% for p90, 12% for p99, 0 for the error
// rate, 10% for the server's figures), every threshold replaced by threshold when it is
// above 0, at family-wise significance alpha (0: 0.05), with the machine figures shown and
// not tested and a regression that a measurably busier machine explains INCONCLUSIVE (see
// machine.Compare). The gate and `perfgate compare` use them.
func GateOptions(alpha, threshold float64) gate.Options {
	opt := gate.Options{Alpha: alpha, Threshold: threshold, Units: map[string]gate.Unit{}}
	for _, d := range metricDefs {
		u := gate.Unit{LowerBetter: d.lowerBetter, Threshold: d.threshold}
		if threshold > 0 {
			u.Threshold = threshold
		}
		opt.Units[d.unit] = u
	}
	opt.Figure = machine.IsFigure
	opt.Noise = func(base, cur *resultfile.File) gate.Noise {
		c := machine.Compare(base, cur)
		return gate.Noise{Busier: c.Busier, Why: c.Why, Summary: c.String(), Explain: c.Explain, Missing: c.Missing}
	}
	return opt
}

// summary holds the aggregates of one repetition.
type summary struct {
	requests, failed int
	outcomes         map[Outcome]int
	ttft, itl, tpot  *hdrhistogram.Histogram
	e2e              *hdrhistogram.Histogram
	outputTokens     int
	good             int           // requests meeting every SLO
	wall             time.Duration // first scheduled send to last completion
	tokenMismatch    int           // requests whose chunk count differs from the server's usage
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
	s := &summary{outcomes: map[Outcome]int{}, ttft: newHist(), itl: newHist(), tpot: newHist(), e2e: newHist()}
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
		if r.Outcome != OK {
			s.failed++
			continue
		}
		record(s.ttft, r.TTFT())
		record(s.e2e, r.E2E())
		tpot, hasTPOT := r.TPOT()
		if hasTPOT {
			record(s.tpot, tpot)
		}
		r.ITLs(func(d time.Duration) { record(s.itl, d) })
		s.outputTokens += r.Generated()
		if r.OutputTokens > 0 && r.Chunks != r.OutputTokens {
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
	m := make([]resultfile.Metric, 0, len(metricDefs))
	for _, h := range []struct {
		name string
		h    *hdrhistogram.Histogram
	}{{"ttft", s.ttft}, {"itl", s.itl}, {"tpot", s.tpot}, {"e2e", s.e2e}} {
		if h.h.TotalCount() == 0 {
			continue
		}
		m = append(m,
			resultfile.Metric{Unit: h.name + "-p50-sec", Value: pct(h.h, 50)},
			resultfile.Metric{Unit: h.name + "-p90-sec", Value: pct(h.h, 90)},
			resultfile.Metric{Unit: h.name + "-p99-sec", Value: pct(h.h, 99)})
	}
	m = append(m, resultfile.Metric{Unit: "req/s", Value: rate(s.requests - s.failed)}, resultfile.Metric{Unit: "tok/s", Value: rate(s.outputTokens)})
	if slo.set() {
		m = append(m, resultfile.Metric{Unit: "goodput-req/s", Value: rate(s.good)})
	}
	errRate := 0.0
	if s.requests > 0 {
		errRate = float64(s.failed) / float64(s.requests)
	}
	return append(m, resultfile.Metric{Unit: "error-rate", Value: errRate})
}

package perftest

import (
	"math"
	"slices"
	"strings"
	"time"

	"github.com/perfgate/perfgate/perftest/gate"
	"github.com/perfgate/perfgate/perftest/metric"
	"github.com/perfgate/perfgate/perftest/resultfile"
)

// The phases of metric.Phases, by index.
const (
	phLag = iota
	phConnect
	phSend
	phQueue
	phPrefill
	phDecode
	phTransit
	phRest
	nPhases
)

// partBand is half the width of a percentile's band, as a share of the requests.
const partBand = 0.05

// partedLatencies are the latencies of metric.Parted: which quantile of which latency, and
// whether the latency runs to the last token (E2E) or to the first (TTFT).
var partedLatencies = []struct {
	name string
	q    float64
	e2e  bool
}{
	{metric.TTFTP50, 0.50, false}, {metric.TTFTP90, 0.90, false}, {metric.TTFTP99, 0.99, false},
	{metric.E2EP50, 0.50, true}, {metric.E2EP90, 0.90, true}, {metric.E2EP99, 0.99, true},
}

// phases is one request's time in each phase of a latency, in nanoseconds; NaN where the
// request does not tell it.
type phases [nPhases]float64

// parts are the parts of the repetition's latencies (metric.Part): for each latency of
// metric.Parted, the mean of each phase over the requests in the band around its
// percentile. A phase is written only where every request of the band tells it (and, for
// the server's, where the repetition's source gives it at all); the rest takes what the
// phases written leave of each request's latency, so that the parts add up to the band's
// mean latency.
func parts(recs []Record) []resultfile.Metric {
	given := serverGiven(recs)
	var out []resultfile.Metric
	for _, l := range partedLatencies {
		band := partBandOf(recs, l.q, l.e2e)
		if len(band) == 0 {
			continue
		}
		ph := make([]phases, len(band))
		has := given
		has[phLag], has[phConnect], has[phSend] = true, true, true
		for i, r := range band {
			ph[i] = requestPhases(r, l.e2e)
			for p := range phRest {
				has[p] = has[p] && !math.IsNaN(ph[i][p]) && (p != phTransit || ph[i][p] >= -float64(time.Millisecond))
			}
		}
		var sum phases
		for i, r := range band {
			rest := float64(latencyOf(r, l.e2e))
			for p := range phRest {
				if has[p] {
					sum[p] += ph[i][p]
					rest -= ph[i][p]
				}
			}
			sum[phRest] += rest
		}
		has[phRest] = true
		for p := range nPhases {
			if has[p] {
				out = append(out, resultfile.Metric{Unit: metric.Part(l.name, metric.Phases[p]), Value: sum[p] / float64(len(band)) / 1e9})
			}
		}
	}
	return out
}

// serverGiven says which of the server's phases the repetition's per-request source gives
// at all: those some request has a non-zero value of (a source gives a zero for a phase
// it does not tell, and a real zero, a request that never queued, only beside others that
// did).
func serverGiven(recs []Record) (given [nPhases]bool) {
	for i := range recs {
		s := recs[i].Server
		if s == nil {
			continue
		}
		given[phQueue] = given[phQueue] || s.Queue > 0
		given[phPrefill] = given[phPrefill] || s.Prefill > 0
		given[phDecode] = given[phDecode] || s.Decode > 0
		given[phTransit] = given[phTransit] || s.Wall
	}
	return given
}

// requestPhases is r's time in each phase of its TTFT, or of its E2E latency when e2e.
func requestPhases(r *Record, e2e bool) phases {
	nan := math.NaN()
	ph := phases{phLag: float64(r.Sent), phConnect: 0, phSend: 0, phQueue: nan, phPrefill: nan, phDecode: nan, phTransit: nan}
	if c := r.Client; c != nil {
		from := r.Sent
		if !c.Reused && c.Connected > r.Sent {
			ph[phConnect] = float64(c.Connected - r.Sent)
			from = c.Connected
		}
		if c.Wrote > from {
			ph[phSend] = float64(c.Wrote - from)
		}
	}
	if s := r.Server; s != nil {
		ph[phQueue], ph[phPrefill] = float64(s.Queue), float64(s.Prefill)
		if e2e {
			ph[phDecode] = float64(s.Decode)
		} else if s.Wall {
			ph[phTransit] = float64(s.Transit)
		}
	}
	return ph
}

// latencyOf is r's TTFT, or its E2E latency when e2e.
func latencyOf(r *Record, e2e bool) time.Duration {
	if e2e {
		return r.E2E()
	}
	return r.TTFT()
}

// partBandOf returns the successful requests whose latency ranks within partBand of the
// quantile q: at least one.
func partBandOf(recs []Record, q float64, e2e bool) []*Record {
	var ok []*Record
	for i := range recs {
		r := &recs[i]
		if r.Outcome == OK && r.WantResults == 0 && (e2e || r.FirstToken > 0) {
			ok = append(ok, r)
		}
	}
	n := len(ok)
	if n == 0 {
		return nil
	}
	slices.SortStableFunc(ok, func(a, b *Record) int { return int(latencyOf(a, e2e) - latencyOf(b, e2e)) })
	lo := max(int(math.Floor((q-partBand)*float64(n))), 0)
	hi := min(int(math.Ceil((q+partBand)*float64(n))), n)
	if hi <= lo {
		k := min(int(math.Round(q*float64(n-1))), n-1)
		return ok[k : k+1]
	}
	return ok[lo:hi]
}

// why is the attribution of a comparison's flagged latencies for a failure message: a
// "why:" block of one line each, "" when nothing was attributed.
func why(rep *gate.Report) string {
	if t := rep.AttributionText(); t != "" {
		return "\nwhy:\n  " + strings.ReplaceAll(t, "\n", "\n  ")
	}
	return ""
}

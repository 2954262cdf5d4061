package perftest

import (
	"slices"
	"time"
)

// Diagnostics describe how faithfully the client delivered the load of a repetition. They
// are reported beside the metrics, not gated: they say whether the metrics can be trusted.
type Diagnostics struct {
	// Sent counts requests that went out (dropped arrivals excluded).
	Sent int `json:"sent"`
	// LagP50 and LagP99 are percentiles of the schedule lag: when a request was handed to its
	// connection minus when it was due.
	LagP50 time.Duration `json:"lag_p50_ns"`
	LagP99 time.Duration `json:"lag_p99_ns"`
	// RequestedRate is the open-loop mean rate of the schedule, and AchievedRate the rate at
	// which requests actually went out (0 for closed loops).
	RequestedRate float64 `json:"requested_rate"`
	AchievedRate  float64 `json:"achieved_rate"`
	// MeanConcurrency is the time-averaged number of requests in flight (total request time
	// over wall time); PeakConcurrency the most at once.
	MeanConcurrency float64 `json:"mean_concurrency"`
	PeakConcurrency int     `json:"peak_concurrency"`
	// Retries counts requests resent on a fresh connection because a kept-alive one had
	// been closed by the server (not failures).
	Retries int `json:"retries,omitempty"`
	// ShortOutputs counts successful requests that generated fewer tokens than asked for
	// (a server that ignores ignore_eos and stops early looks faster than it is).
	ShortOutputs int `json:"short_outputs,omitempty"`
	// InputMismatch counts requests whose prompt the server counted more than 32 tokens and
	// 10% away from the intended length.
	InputMismatch int `json:"input_mismatch,omitempty"`
	// PerChunkITL counts requests whose chunks carried several tokens without the server
	// saying how many: their inter-token latencies are per chunk, as vLLM's benchmark
	// counts them, not per token.
	PerChunkITL int `json:"per_chunk_itl,omitempty"`
	// UsageRefused counts requests whose usage held counts that cannot be true (1e30
	// tokens, a negative cached count): refused, never recorded (Record.UsageError).
	UsageRefused int `json:"usage_refused,omitempty"`
}

func diagnose(recs []Record, l Load, pac *pacing) Diagnostics {
	var d Diagnostics
	lags := make([]time.Duration, 0, len(recs))
	var firstSent, lastSent time.Duration = -1, 0
	var busy, wallStart, wallEnd time.Duration = 0, -1, 0
	for i := range recs {
		r := &recs[i]
		if r.Outcome == Dropped {
			continue
		}
		d.Sent++
		lags = append(lags, r.Sent)
		sent := r.Scheduled + r.Sent
		if firstSent < 0 || sent < firstSent {
			firstSent = sent
		}
		lastSent = max(lastSent, sent)
		busy += r.Done - r.Sent
		if wallStart < 0 || r.Scheduled < wallStart {
			wallStart = r.Scheduled
		}
		wallEnd = max(wallEnd, r.Scheduled+r.Done)
	}
	if len(lags) > 0 {
		slices.Sort(lags)
		d.LagP50 = lags[(len(lags)-1)/2]
		d.LagP99 = lags[min(len(lags)-1, int(float64(len(lags))*0.99))]
	}
	if wall := wallEnd - wallStart; wall > 0 {
		d.MeanConcurrency = float64(busy) / float64(wall)
	}
	if pac != nil {
		d.PeakConcurrency = int(pac.peak.Load())
		if !l.closed() {
			d.RequestedRate = pac.requested
			if d.Sent > 1 && lastSent > firstSent {
				d.AchievedRate = float64(d.Sent-1) / (lastSent - firstSent).Seconds()
			}
		}
	}
	return d
}

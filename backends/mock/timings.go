package mock

import (
	"encoding/hex"
	"time"
)

// RequestTiming is the simulator's truth about one finished request, on its own clock:
// when it arrived, was first scheduled, produced its first and its last token, and
// finished. What a client learns of a request's phases (the span the simulator exports,
// the timings on its stream, its histograms) is derived from these.
type RequestTiming struct {
	// TraceID is the trace id of the traceparent the request came with, in hex ("" when
	// it came without one).
	TraceID string
	// ID is the request's number, as its stream's id says ("cmpl-7" is 7).
	ID                                                  uint64
	Arrival, Scheduled, FirstToken, LastToken, Finished time.Time
	PromptTokens, CachedTokens, OutputTokens            int
}

// Queue, Prefill and Decode are the request's phases: arrival to first scheduling, first
// scheduling to first token, first token to last token.
func (t RequestTiming) Queue() time.Duration   { return t.Scheduled.Sub(t.Arrival) }
func (t RequestTiming) Prefill() time.Duration { return t.FirstToken.Sub(t.Scheduled) }
func (t RequestTiming) Decode() time.Duration  { return t.LastToken.Sub(t.FirstToken) }

// Timings returns the truth about every request finished so far, in the order they
// finished (Config.KeepTimings; nil without it).
func (s *Server) Timings() []RequestTiming {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]RequestTiming(nil), s.timings...)
}

// traceFinished hands a finished request to the span exporter and keeps its truth. It is
// called with the engine lock held, once per request.
func (s *Server) traceFinished(q *seq, now time.Duration) {
	if s.spans != nil {
		s.spans.add(finishedSpan{tc: q.tc, traced: q.traced, id: q.id, maxTokens: q.maxTokens, prompt: q.promptLen,
			generated: q.generated, arrival: q.arrival, scheduled: q.scheduled, first: q.firstToken, last: q.lastToken, finished: now})
	}
	if !s.cfg.KeepTimings {
		return
	}
	t := RequestTiming{ID: q.id, PromptTokens: q.promptLen, CachedTokens: q.cachedTokens, OutputTokens: q.generated,
		Arrival: s.created.Add(q.arrival), Scheduled: s.created.Add(q.scheduled), FirstToken: s.created.Add(q.firstToken),
		LastToken: s.created.Add(q.lastToken), Finished: s.created.Add(now)}
	if q.traced {
		t.TraceID = hex.EncodeToString(q.tc.trace[:])
	}
	s.timings = append(s.timings, t)
}

// withTraces adds to the series names where perftest receives the spans exported to
// endpoint, if any.
func withTraces(names map[string]string, endpoint string) map[string]string {
	if endpoint != "" {
		names["otlp-traces"] = traceAddress(endpoint)
	}
	return names
}

package perftest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"strings"
	"time"
)

// Per-request perf metrics served apart from the stream: TensorRT-LLM's trtllm-serve, with
// return_perf_metrics and perf_metrics_max_requests in its LLM API options, keeps each
// finished request's timing and KV-cache metrics and serves them, drained as read, at GET
// /perf_metrics (tensorrt_llm/serve/openai_server.py, get_perf_metrics and
// _extract_metrics): a JSON list of
//
//	{"request_id": 7, "perf_metrics": {"first_iter": ..., "last_iter": ...,
//	  "timing_metrics": {"arrival_time", "first_scheduled_time", "first_token_time",
//	                     "last_token_time", "server_arrival_time", "server_first_token_time"},
//	  "kv_cache_metrics": {"num_total_allocated_blocks", "num_new_allocated_blocks",
//	                       "num_reused_blocks", "num_missed_blocks"}}}
//
// with times in seconds on the server's steady clock (no wall clock: no transit). They are
// not in the response; the stream's chunks carry the request id in their "id"
// ("cmpl-7", "chatcmpl-7": postprocess_handlers.py names a stream f"{prefix}-{rsp.id}"),
// which is how a record finds its entry.

// maxPerfMetricsBytes bounds one /perf_metrics answer.
const maxPerfMetricsBytes = 64 << 20

type perfEntry struct {
	RequestID   json.RawMessage `json:"request_id"`
	PerfMetrics struct {
		Timing struct {
			Arrival        float64 `json:"arrival_time"`
			FirstScheduled float64 `json:"first_scheduled_time"`
			FirstToken     float64 `json:"first_token_time"`
			LastToken      float64 `json:"last_token_time"`
		} `json:"timing_metrics"`
	} `json:"perf_metrics"`
}

// readPerfMetrics reads the server's perf metrics, by request id.
func (s *Session) readPerfMetrics(ctx context.Context, url string) (map[string]*ServerPhases, error) {
	ctx, cancel := context.WithTimeout(ctx, s.c.controlTimeout())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.client.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxPerfMetricsBytes+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("read %s: %w", url, err)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("read %s: HTTP %d", url, resp.StatusCode)
	case len(body) > maxPerfMetricsBytes:
		return nil, fmt.Errorf("read %s: over %d MiB", url, maxPerfMetricsBytes>>20)
	}
	return parsePerfMetrics(body)
}

// parsePerfMetrics turns a /perf_metrics answer into server phases by request id. An entry
// whose times are not in order is left out.
func parsePerfMetrics(body []byte) (map[string]*ServerPhases, error) {
	var entries []perfEntry
	if err := json.Unmarshal(body, &entries); err != nil {
		return nil, fmt.Errorf("perf metrics: %w", err)
	}
	out := make(map[string]*ServerPhases, len(entries))
	for _, e := range entries {
		id := strings.Trim(string(e.RequestID), `"`)
		t := e.PerfMetrics.Timing
		if id == "" || !ordered(t.Arrival, t.FirstScheduled, t.FirstToken, t.LastToken) {
			continue
		}
		sec := func(a, b float64) time.Duration { return time.Duration((b-a)*1e9 + 0.5) }
		out[id] = &ServerPhases{Source: sourcePerfMetrics, Queue: sec(t.Arrival, t.FirstScheduled),
			Prefill: sec(t.FirstScheduled, t.FirstToken), Decode: sec(t.FirstToken, t.LastToken),
			TTFT: sec(t.Arrival, t.FirstToken), E2E: sec(t.Arrival, t.LastToken)}
	}
	return out, nil
}

// ordered reports whether times are finite, positive and do not go backwards, within a day.
func ordered(ts ...float64) bool {
	for i, t := range ts {
		if math.IsNaN(t) || math.IsInf(t, 0) || t <= 0 || i > 0 && (t < ts[i-1] || t-ts[0] > 86400) {
			return false
		}
	}
	return true
}

// requestID is the request id a stream's id carries: what follows its last '-'
// ("chatcmpl-7" is 7).
func requestID(responseID string) string {
	if i := strings.LastIndexByte(responseID, '-'); i >= 0 {
		return responseID[i+1:]
	}
	return responseID
}

// collectPerfMetrics reads the perf metrics of a repetition's requests. The server records
// a request's metrics as it finishes it, which can be just after the stream's last byte
// reached the client: while some answered request is missing and the server had metrics
// to give at all, it reads again, a few times over about a second.
func (s *Session) collectPerfMetrics(ctx context.Context, recs []Record) (map[string]*ServerPhases, error) {
	byID, err := s.readPerfMetrics(ctx, s.timing.perfURL)
	for wait := 20 * time.Millisecond; err == nil && len(byID) > 0 && wait < 1500*time.Millisecond && missingPerfMetrics(recs, byID); wait *= 2 {
		select {
		case <-ctx.Done():
			return byID, nil
		case <-time.After(wait):
		}
		more, err2 := s.readPerfMetrics(ctx, s.timing.perfURL)
		if err2 != nil {
			break
		}
		maps.Copy(byID, more)
	}
	return byID, err
}

// missingPerfMetrics reports whether an answered request with a stream id has no metrics.
func missingPerfMetrics(recs []Record, byID map[string]*ServerPhases) bool {
	for _, r := range recs {
		if _, ok := byID[requestID(r.ResponseID)]; r.Outcome == OK && r.ResponseID != "" && !ok {
			return true
		}
	}
	return false
}

// joinPerfMetrics reads the perf metrics after a repetition and joins each to its record.
func (s *Session) joinPerfMetrics(ctx context.Context, rep *Repetition, n int) {
	t := s.timing
	byID, err := s.collectPerfMetrics(ctx, rep.Records)
	if err != nil {
		s.note("perfmetrics", "perftest: server timing: repetition %d: %v: requests are not split by the server's perf metrics", n, err)
		return
	}
	joined := 0
	for i := range rep.Records {
		r := &rep.Records[i]
		p, ok := byID[requestID(r.ResponseID)]
		if r.Outcome != OK || r.ResponseID == "" || !ok || r.Server != nil && r.Server.Source == sourceOTLP {
			continue // a span, joined already, tells more (the server's wall clock)
		}
		if r.Server != nil {
			t.joined[r.Server.Source]--
		}
		p.PromptTokens, p.OutputTokens = r.InputTokens, r.OutputTokens
		r.Server = p
		t.joined[sourcePerfMetrics]++
		joined++
	}
	if joined == 0 && len(byID) > 0 {
		s.note("perfids", "perftest: server timing: the server's perf metrics hold %d requests, and none has the id a stream gave its request (ids such as %q: a release that names streams by random ids cannot be joined)",
			len(byID), firstResponseID(rep.Records))
	}
}

func firstResponseID(recs []Record) string {
	for _, r := range recs {
		if r.ResponseID != "" {
			return r.ResponseID
		}
	}
	return ""
}

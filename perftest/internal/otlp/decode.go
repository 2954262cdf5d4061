package otlp

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// DecodeProto reads an ExportTraceServiceRequest in binary protobuf and calls keep with
// every span that tells a request's phases.
func DecodeProto(body []byte, keep func(Span)) error {
	var td tracepb.TracesData // wire-compatible with ExportTraceServiceRequest
	if err := proto.Unmarshal(body, &td); err != nil {
		return fmt.Errorf("decode OTLP protobuf: %w", err)
	}
	for _, rs := range td.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			for _, sp := range ss.GetSpans() {
				if s, ok := fromProto(sp); ok {
					keep(s)
				}
			}
		}
	}
	return nil
}

func fromProto(sp *tracepb.Span) (Span, bool) {
	var s Span
	if len(sp.GetTraceId()) != len(s.TraceID) {
		return s, false
	}
	copy(s.TraceID[:], sp.GetTraceId())
	s.Server = sp.GetKind() == tracepb.Span_SPAN_KIND_SERVER
	s.Start = unixNano(sp.GetStartTimeUnixNano())
	for _, kv := range sp.GetAttributes() {
		v := kv.GetValue()
		switch x := v.GetValue().(type) {
		case *commonpb.AnyValue_DoubleValue:
			s.setLatency(kv.GetKey(), x.DoubleValue)
			s.setCount(kv.GetKey(), wholeOrNeg(x.DoubleValue))
		case *commonpb.AnyValue_IntValue:
			s.setLatency(kv.GetKey(), float64(x.IntValue))
			s.setCount(kv.GetKey(), x.IntValue)
		}
	}
	return s, s.useful()
}

// wholeOrNeg is f as a count when it is a whole number, else -1 (no count).
func wholeOrNeg(f float64) int64 {
	if f != math.Trunc(f) || f < 0 || f > 1<<40 {
		return -1
	}
	return int64(f)
}

func unixNano(ns uint64) time.Time {
	if ns == 0 || ns > math.MaxInt64 {
		return time.Time{}
	}
	return time.Unix(0, int64(ns))
}

// jsonTraces is an ExportTraceServiceRequest in OTLP's JSON mapping (lowerCamelCase
// names; trace ids in hex; 64-bit integers as strings or numbers).
type jsonTraces struct {
	ResourceSpans []struct {
		ScopeSpans []struct {
			Spans []jsonSpan `json:"spans"`
		} `json:"scopeSpans"`
	} `json:"resourceSpans"`
}

type jsonSpan struct {
	TraceID    string          `json:"traceId"`
	Kind       json.RawMessage `json:"kind"`
	Start      json.RawMessage `json:"startTimeUnixNano"`
	Attributes []struct {
		Key   string `json:"key"`
		Value struct {
			Double json.RawMessage `json:"doubleValue"`
			Int    json.RawMessage `json:"intValue"`
		} `json:"value"`
	} `json:"attributes"`
}

// DecodeJSON reads an ExportTraceServiceRequest in OTLP's JSON encoding and calls keep with
// every span that tells a request's phases.
func DecodeJSON(body []byte, keep func(Span)) error {
	var tr jsonTraces
	if err := json.Unmarshal(body, &tr); err != nil {
		return fmt.Errorf("decode OTLP JSON: %w", err)
	}
	for _, rs := range tr.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			for i := range ss.Spans {
				if s, ok := ss.Spans[i].span(); ok {
					keep(s)
				}
			}
		}
	}
	return nil
}

func (j *jsonSpan) span() (Span, bool) {
	var s Span
	id, err := hex.DecodeString(j.TraceID)
	if err != nil || len(id) != len(s.TraceID) {
		return s, false
	}
	copy(s.TraceID[:], id)
	// The kind is an enum: its number, or (some exporters) its name.
	kind := string(bytes.Trim(j.Kind, `"`))
	s.Server = kind == "2" || kind == "SPAN_KIND_SERVER"
	if ns, err := jsonInt(j.Start); err == nil && ns > 0 {
		s.Start = time.Unix(0, ns)
	}
	for _, a := range j.Attributes {
		if f, err := jsonFloat(a.Value.Double); err == nil {
			s.setLatency(a.Key, f)
			s.setCount(a.Key, wholeOrNeg(f))
		}
		if n, err := jsonInt(a.Value.Int); err == nil {
			s.setLatency(a.Key, float64(n))
			s.setCount(a.Key, n)
		}
	}
	return s, s.useful()
}

var errNoValue = errors.New("no value")

// jsonInt reads a 64-bit integer written as a number or a string of one.
func jsonInt(raw json.RawMessage) (int64, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, errNoValue
	}
	return strconv.ParseInt(string(bytes.Trim(raw, `"`)), 10, 64)
}

// jsonFloat reads a double written as a number (or, for NaN and infinities, a string,
// which no latency is).
func jsonFloat(raw json.RawMessage) (float64, error) {
	if len(raw) == 0 || raw[0] == '"' || string(raw) == "null" {
		return 0, errNoValue
	}
	return strconv.ParseFloat(string(raw), 64)
}

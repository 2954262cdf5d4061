// Package otlp is the OTLP/HTTP trace receiver perfgate runs for a case: an engine that
// exports OpenTelemetry spans (vLLM with --otlp-traces-endpoint, SGLang with
// --enable-trace) posts them here, and the runner joins each span to the request it
// measured by trace id, since the client sent every request with a W3C traceparent of its
// own.
//
// Of a span, the receiver keeps what a request's phases need: its trace id, its start on
// the server's wall clock, and the gen_ai.latency.* and gen_ai.usage.* attributes that
// vLLM's llm_request span carries (vllm/tracing: SpanAttributes; set in
// v1/engine/output_processor.py's do_tracing) and SGLang's request spans reuse. Spans
// without any of them (an engine's internal spans) are not kept.
//
// Both OTLP/HTTP encodings are read: binary protobuf (application/x-protobuf, decoded with
// go.opentelemetry.io/proto/otlp's TracesData, which is wire-compatible with
// ExportTraceServiceRequest and does not pull in gRPC) and JSON (application/json, OTLP's
// JSON mapping: hex trace ids and 64-bit integers as strings, which protojson does not
// read, so it is decoded with encoding/json). Bodies may be gzip-compressed; a body over
// MaxBody bytes, compressed or not, is refused with 413.
package otlp

import "time"

// Span is what the receiver keeps of a span that told a request's phases.
type Span struct {
	TraceID [16]byte
	// Server reports a span of kind SERVER: the engine's span of the request (vLLM's
	// llm_request), preferred over others of the same trace.
	Server bool
	// Start is the span's start on the server's wall clock (vLLM starts llm_request at the
	// request's arrival), zero when the span said none.
	Start time.Time
	// The gen_ai.latency.* attributes, each set when Has says so.
	Queue, TTFT, Prefill, Decode, Inference, E2E time.Duration
	// The gen_ai.usage.* attributes.
	PromptTokens, CachedTokens, OutputTokens int
	// Has says which of the attributes the span carried.
	Has Field
}

// Field names one attribute a span may carry.
type Field uint16

// The attributes.
const (
	HasQueue Field = 1 << iota
	HasTTFT
	HasPrefill
	HasDecode
	HasInference
	HasE2E
	HasPromptTokens
	HasCachedTokens
	HasOutputTokens
)

// Attribute names (vllm/tracing: SpanAttributes; the same in SGLang's tracing).
const (
	AttrQueue        = "gen_ai.latency.time_in_queue"
	AttrTTFT         = "gen_ai.latency.time_to_first_token"
	AttrPrefill      = "gen_ai.latency.time_in_model_prefill"
	AttrDecode       = "gen_ai.latency.time_in_model_decode"
	AttrInference    = "gen_ai.latency.time_in_model_inference"
	AttrE2E          = "gen_ai.latency.e2e"
	AttrPromptTokens = "gen_ai.usage.prompt_tokens"
	AttrCachedTokens = "gen_ai.usage.cached_tokens"
	AttrOutputTokens = "gen_ai.usage.completion_tokens"
	AttrRequestID    = "gen_ai.request.id"
)

// latencies and counts map each attribute to the field it sets.
var (
	latencies = map[string]Field{AttrQueue: HasQueue, AttrTTFT: HasTTFT, AttrPrefill: HasPrefill,
		AttrDecode: HasDecode, AttrInference: HasInference, AttrE2E: HasE2E}
	counts = map[string]Field{AttrPromptTokens: HasPromptTokens, AttrCachedTokens: HasCachedTokens, AttrOutputTokens: HasOutputTokens}
)

// maxSeconds bounds a latency attribute: a value outside [0, a day] is not a request's.
const maxSeconds = 86400

// setLatency records a latency attribute given in seconds; a value that cannot be a
// request's latency (negative, NaN, over a day) is left out.
func (s *Span) setLatency(key string, sec float64) {
	f, ok := latencies[key]
	if !ok || !(sec >= 0 && sec <= maxSeconds) {
		return
	}
	d := time.Duration(sec*1e9 + 0.5)
	switch f {
	case HasQueue:
		s.Queue = d
	case HasTTFT:
		s.TTFT = d
	case HasPrefill:
		s.Prefill = d
	case HasDecode:
		s.Decode = d
	case HasInference:
		s.Inference = d
	case HasE2E:
		s.E2E = d
	}
	s.Has |= f
}

// setCount records a token count attribute; a negative or absurd one is left out.
func (s *Span) setCount(key string, n int64) {
	f, ok := counts[key]
	if !ok || n < 0 || n > 1<<40 {
		return
	}
	switch f {
	case HasPromptTokens:
		s.PromptTokens = int(n)
	case HasCachedTokens:
		s.CachedTokens = int(n)
	case HasOutputTokens:
		s.OutputTokens = int(n)
	}
	s.Has |= f
}

// useful reports whether the span told anything of a request's phases.
func (s *Span) useful() bool {
	return s.Has&(HasQueue|HasTTFT|HasPrefill|HasDecode|HasInference|HasE2E) != 0
}

// better reports whether s should replace t as its trace's span: a server span over any
// other, then the one that carries more attributes.
func (s *Span) better(t *Span) bool {
	if s.Server != t.Server {
		return s.Server
	}
	return bitCount(s.Has) > bitCount(t.Has)
}

func bitCount(f Field) int {
	n := 0
	for ; f != 0; f &= f - 1 {
		n++
	}
	return n
}

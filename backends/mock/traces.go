package mock

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// The simulator traces requests as vLLM does with --otlp-traces-endpoint: one span named
// llm_request of kind SERVER per finished request, started at its arrival and ended at its
// finish, continuing the trace of the W3C traceparent the request came with (a new trace
// without one), with the attributes vLLM's OutputProcessor.do_tracing sets
// (vllm/tracing SpanAttributes): gen_ai.response.model, gen_ai.request.id,
// gen_ai.request.max_tokens, gen_ai.request.n, gen_ai.usage.prompt_tokens,
// gen_ai.usage.completion_tokens, and the latencies in seconds, each from the engine's own
// clock: time_in_queue (first scheduling - arrival), time_to_first_token, time_in_model_
// prefill (first token - first scheduling), time_in_model_decode (last token - first
// token), time_in_model_inference (last token - first scheduling) and e2e. Spans go out in
// batches over OTLP/HTTP in binary protobuf (vLLM with OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=
// http/protobuf), every 100 ms or 512 spans; an export that fails is dropped, as
// OpenTelemetry's exporter drops it after its retries.

// traceCtx is the trace a request came with.
type traceCtx struct {
	trace  [16]byte
	parent [8]byte
}

// parseTraceparent reads a W3C traceparent header ("00-<32 hex>-<16 hex>-<2 hex>"); ok is
// false for a missing or malformed one, or an all-zero id.
func parseTraceparent(h string) (tc traceCtx, ok bool) {
	if len(h) < 55 || h[2] != '-' || h[35] != '-' || h[52] != '-' || h[:2] == "ff" {
		return tc, false
	}
	if _, err := hex.Decode(tc.trace[:], []byte(h[3:35])); err != nil {
		return tc, false
	}
	if _, err := hex.Decode(tc.parent[:], []byte(h[36:52])); err != nil {
		return tc, false
	}
	return tc, tc.trace != [16]byte{} && tc.parent != [8]byte{}
}

// finishedSpan is what the exporter needs of a finished request, copied with the engine
// lock held.
type finishedSpan struct {
	tc                                        traceCtx
	traced                                    bool // the request came with a traceparent
	id                                        uint64
	maxTokens, prompt, generated              int
	arrival, scheduled, first, last, finished time.Duration
}

// exporter batches spans and posts them to an OTLP/HTTP endpoint.
type exporter struct {
	url     string
	model   string
	created time.Time
	client  *http.Client

	mu      sync.Mutex
	pending []finishedSpan
	kick    chan struct{}
	quit    chan struct{}
	done    chan struct{}
	rng     *rand.Rand
}

// spanBatch is the most spans one export carries (OpenTelemetry's default).
const spanBatch = 512

func newExporter(endpoint, model string, created time.Time, seed uint64) *exporter {
	e := &exporter{url: endpoint, model: model, created: created, client: &http.Client{Timeout: 10 * time.Second},
		kick: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{}),
		rng: rand.New(rand.NewPCG(seed, 0x7370616e))}
	go e.loop()
	return e
}

// add queues a finished request's span. It does not block.
func (e *exporter) add(s finishedSpan) {
	e.mu.Lock()
	e.pending = append(e.pending, s)
	full := len(e.pending) >= spanBatch
	e.mu.Unlock()
	if full {
		select {
		case e.kick <- struct{}{}:
		default:
		}
	}
}

func (e *exporter) loop() {
	defer close(e.done)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-e.kick:
		case <-e.quit:
			e.flush()
			return
		}
		e.flush()
	}
}

// close sends what is pending and stops.
func (e *exporter) close() {
	close(e.quit)
	<-e.done
	e.client.CloseIdleConnections()
}

// flush exports the pending spans, in batches.
func (e *exporter) flush() {
	for {
		e.mu.Lock()
		n := min(len(e.pending), spanBatch)
		batch := append([]finishedSpan(nil), e.pending[:n]...)
		e.pending = append(e.pending[:0], e.pending[n:]...)
		e.mu.Unlock()
		if n == 0 {
			return
		}
		e.post(batch)
	}
}

func (e *exporter) post(batch []finishedSpan) {
	body, err := proto.Marshal(e.traces(batch))
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(body))
	if err != nil {
		return
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	if resp, err := e.client.Do(req); err == nil {
		resp.Body.Close()
	}
}

// traces is a batch as an ExportTraceServiceRequest (TracesData is its wire twin).
func (e *exporter) traces(batch []finishedSpan) *tracepb.TracesData {
	spans := make([]*tracepb.Span, len(batch))
	for i, s := range batch {
		spans[i] = e.span(s)
	}
	str := func(k, v string) *commonpb.KeyValue {
		return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
	}
	return &tracepb.TracesData{ResourceSpans: []*tracepb.ResourceSpans{{
		Resource:   &resourcepb.Resource{Attributes: []*commonpb.KeyValue{str("service.name", "perfgate-mock"), str("vllm.instrumenting_module_name", "vllm.llm_engine")}},
		ScopeSpans: []*tracepb.ScopeSpans{{Scope: &commonpb.InstrumentationScope{Name: "vllm.llm_engine"}, Spans: spans}},
	}}}
}

// span is one request's llm_request span.
func (e *exporter) span(s finishedSpan) *tracepb.Span {
	sec := func(k string, d time.Duration) *commonpb.KeyValue {
		return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: d.Seconds()}}}
	}
	num := func(k string, n int) *commonpb.KeyValue {
		return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: int64(n)}}}
	}
	str := func(k, v string) *commonpb.KeyValue {
		return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
	}
	var id [8]byte
	binary.BigEndian.PutUint64(id[:], e.rng.Uint64()|1)
	tc := s.tc
	if !s.traced {
		binary.BigEndian.PutUint64(tc.trace[:8], e.rng.Uint64()|1)
		binary.BigEndian.PutUint64(tc.trace[8:], e.rng.Uint64())
	}
	sp := &tracepb.Span{
		TraceId: tc.trace[:], SpanId: id[:], Name: "llm_request", Kind: tracepb.Span_SPAN_KIND_SERVER,
		StartTimeUnixNano: uint64(e.created.Add(s.arrival).UnixNano()), EndTimeUnixNano: uint64(e.created.Add(s.finished).UnixNano()),
		Attributes: []*commonpb.KeyValue{
			str("gen_ai.response.model", e.model), str("gen_ai.request.id", strconv.FormatUint(s.id, 10)),
			num("gen_ai.request.max_tokens", s.maxTokens), num("gen_ai.request.n", 1),
			num("gen_ai.usage.prompt_tokens", s.prompt), num("gen_ai.usage.completion_tokens", s.generated),
			sec("gen_ai.latency.time_to_first_token", s.first-s.arrival), sec("gen_ai.latency.e2e", s.finished-s.arrival),
			sec("gen_ai.latency.time_in_queue", s.scheduled-s.arrival), sec("gen_ai.latency.time_in_model_prefill", s.first-s.scheduled),
			sec("gen_ai.latency.time_in_model_decode", s.last-s.first), sec("gen_ai.latency.time_in_model_inference", s.last-s.scheduled),
		},
	}
	if s.traced {
		sp.ParentSpanId = tc.parent[:]
	}
	return sp
}

// resolveTraceEndpoint gives an OTLP endpoint URL whose port is 0 a free port of its host,
// so that a test can ask for traces without choosing a port.
func resolveTraceEndpoint(endpoint string) (string, error) {
	if endpoint == "" {
		return "", nil
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", fmt.Errorf("OTLP traces endpoint %q: want an http URL such as http://127.0.0.1:4318/v1/traces", endpoint)
	}
	if u.Port() != "0" {
		return endpoint, nil
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(u.Hostname(), "0"))
	if err != nil {
		return "", fmt.Errorf("OTLP traces endpoint %q: find a free port: %w", endpoint, err)
	}
	u.Host = ln.Addr().String()
	ln.Close()
	return u.String(), nil
}

// traceAddress is where perftest receives the spans of an endpoint URL: its host and port.
func traceAddress(endpoint string) string {
	if u, err := url.Parse(endpoint); err == nil {
		return u.Host
	}
	return ""
}

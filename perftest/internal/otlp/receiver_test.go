package otlp

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

func traceID(t testing.TB, h string) [16]byte {
	t.Helper()
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != 16 {
		t.Fatalf("bad trace id %q", h)
	}
	return [16]byte(b)
}

// wantVLLM is the span of testdata/vllm-span.json.
func wantVLLM(t testing.TB) Span {
	return Span{
		TraceID: traceID(t, "0af7651916cd43dd8448eb211c80319c"), Server: true, Start: time.Unix(0, 1767225600000000000),
		Queue: 12500 * time.Microsecond, TTFT: 50 * time.Millisecond, Prefill: 36500 * time.Microsecond,
		Decode: 1200 * time.Millisecond, Inference: 1236500 * time.Microsecond, E2E: 1250 * time.Millisecond,
		PromptTokens: 512, OutputTokens: 128,
		Has: HasQueue | HasTTFT | HasPrefill | HasDecode | HasInference | HasE2E | HasPromptTokens | HasOutputTokens,
	}
}

// vllmProto is the span of testdata/vllm-span.json in protobuf, as vLLM's exporter
// (opentelemetry-exporter-otlp-proto-http) sends it.
func vllmProto(t testing.TB) []byte {
	t.Helper()
	d := func(k string, v float64) *commonpb.KeyValue {
		return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: v}}}
	}
	i := func(k string, v int64) *commonpb.KeyValue {
		return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: v}}}
	}
	id := traceID(t, "0af7651916cd43dd8448eb211c80319c")
	td := &tracepb.TracesData{ResourceSpans: []*tracepb.ResourceSpans{{ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{{
		TraceId: id[:], SpanId: []byte{1, 2, 3, 4, 5, 6, 7, 8}, Name: "llm_request", Kind: tracepb.Span_SPAN_KIND_SERVER,
		StartTimeUnixNano: 1767225600000000000, EndTimeUnixNano: 1767225601250000000,
		Attributes: []*commonpb.KeyValue{
			i(AttrPromptTokens, 512), i(AttrOutputTokens, 128), d(AttrQueue, 0.0125), d(AttrTTFT, 0.05),
			d(AttrPrefill, 0.0365), d(AttrDecode, 1.2), d(AttrInference, 1.2365), d(AttrE2E, 1.25),
		},
	}, {TraceId: id[:], Name: "EngineCore.step", Kind: tracepb.Span_SPAN_KIND_INTERNAL}}}}}}}
	b, err := proto.Marshal(td)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecode(t *testing.T) {
	js, err := os.ReadFile("testdata/vllm-span.json")
	if err != nil {
		t.Fatal(err)
	}
	for name, decode := range map[string]func() ([]Span, error){
		"json": func() (s []Span, err error) {
			err = DecodeJSON(js, func(sp Span) { s = append(s, sp) })
			return s, err
		},
		"proto": func() (s []Span, err error) {
			err = DecodeProto(vllmProto(t), func(sp Span) { s = append(s, sp) })
			return s, err
		},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := decode()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]Span{wantVLLM(t)}, got); diff != "" {
				t.Errorf("spans (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeRefusesImpossibleValues(t *testing.T) {
	js := `{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0af7651916cd43dd8448eb211c80319c","kind":"SPAN_KIND_SERVER",
		"attributes":[{"key":"gen_ai.latency.e2e","value":{"doubleValue":-1}},{"key":"gen_ai.latency.time_in_queue","value":{"doubleValue":1e30}},
		{"key":"gen_ai.latency.time_to_first_token","value":{"doubleValue":"NaN"}},{"key":"gen_ai.usage.prompt_tokens","value":{"intValue":"-3"}},
		{"key":"gen_ai.latency.time_in_model_decode","value":{"doubleValue":0.5}}]},
		{"traceId":"short","attributes":[{"key":"gen_ai.latency.e2e","value":{"doubleValue":1}}]}]}]}]}`
	var got []Span
	if err := DecodeJSON([]byte(js), func(s Span) { got = append(got, s) }); err != nil {
		t.Fatal(err)
	}
	want := []Span{{TraceID: traceID(t, "0af7651916cd43dd8448eb211c80319c"), Server: true, Decode: 500 * time.Millisecond, Has: HasDecode}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("spans (-want +got):\n%s", diff)
	}
}

func post(t *testing.T, r *Receiver, ct, enc string, body []byte) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+r.Addr()+Path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", ct)
	if enc != "" {
		req.Header.Set("Content-Encoding", enc)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func gz(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	return buf.Bytes()
}

func TestReceiver(t *testing.T) {
	r, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer http.DefaultClient.CloseIdleConnections()
	js, _ := os.ReadFile("testdata/vllm-span.json")
	cases := []struct {
		name, ct, enc string
		body          []byte
		want          int
	}{
		{"protobuf", "application/x-protobuf", "", vllmProto(t), http.StatusOK},
		{"gzip protobuf", "application/x-protobuf", "gzip", gz(t, vllmProto(t)), http.StatusOK},
		{"json", "application/json; charset=utf-8", "", js, http.StatusOK},
		{"unknown type", "text/plain", "", js, http.StatusUnsupportedMediaType},
		{"unknown encoding", "application/json", "br", js, http.StatusUnsupportedMediaType},
		{"not protobuf", "application/x-protobuf", "", []byte{0xff, 0xff, 0xff}, http.StatusBadRequest},
		{"too large", "application/json", "", bytes.Repeat([]byte(" "), MaxBody+1), http.StatusRequestEntityTooLarge},
		{"gzip bomb", "application/json", "gzip", gz(t, bytes.Repeat([]byte(" "), MaxBody+1)), http.StatusRequestEntityTooLarge},
	}
	for _, c := range cases {
		if got := post(t, r, c.ct, c.enc, c.body); got != c.want {
			t.Errorf("%s: status %d, want %d", c.name, got, c.want)
		}
	}
	st := r.Stats()
	if st.Exports != 3 || st.Kept != 1 || st.Refused != 5 || !strings.Contains(st.Last, "MiB") {
		t.Errorf("stats %+v: want 3 exports, 1 span kept (the same trace three times), 5 refused, the last for its size", st)
	}
	id := traceID(t, "0af7651916cd43dd8448eb211c80319c")
	if got := r.Wait(t.Context(), [][16]byte{id}, time.Millisecond); got != 1 {
		t.Errorf("Wait = %d, want 1", got)
	}
	s, ok := r.Take(id)
	if !ok || !cmp.Equal(s, wantVLLM(t)) {
		t.Errorf("Take = %+v, %v; want the vLLM span", s, ok)
	}
	if _, ok := r.Take(id); ok {
		t.Error("a span taken twice")
	}
}

// TestWait: Wait returns once every trace has its span, and after quiet without news.
func TestWait(t *testing.T) {
	r, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer http.DefaultClient.CloseIdleConnections()
	id := traceID(t, "0af7651916cd43dd8448eb211c80319c")
	other := traceID(t, "1af7651916cd43dd8448eb211c80319c")
	done := make(chan int)
	go func() { done <- r.Wait(context.Background(), [][16]byte{id}, time.Minute) }()
	post(t, r, "application/x-protobuf", "", vllmProto(t))
	select {
	case n := <-done:
		if n != 1 {
			t.Errorf("Wait = %d, want 1", n)
		}
	case <-time.After(time.Minute):
		t.Fatal("Wait did not return when the span arrived")
	}
	if n := r.Wait(t.Context(), [][16]byte{id, other}, time.Millisecond); n != 1 {
		t.Errorf("Wait for a span that never comes = %d, want 1 (of 2)", n)
	}
	r.Reset()
	if _, ok := r.Take(id); ok {
		t.Error("Reset kept a span")
	}
}

func TestServerSpanWins(t *testing.T) {
	r := &Receiver{spans: map[[16]byte]Span{}}
	id := [16]byte{1}
	r.keep(Span{TraceID: id, Has: HasE2E | HasQueue | HasTTFT})
	r.keep(Span{TraceID: id, Server: true, Has: HasE2E})
	r.keep(Span{TraceID: id, Has: HasE2E | HasQueue | HasTTFT | HasDecode})
	if s := r.spans[id]; !s.Server {
		t.Errorf("kept %+v, want the server span", s)
	}
}

func FuzzDecodeJSON(f *testing.F) {
	js, err := os.ReadFile("testdata/vllm-span.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(js)
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = DecodeJSON(b, func(s Span) { checkSpan(t, s) })
	})
}

func FuzzDecodeProto(f *testing.F) {
	f.Add(vllmProto(f))
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = DecodeProto(b, func(s Span) { checkSpan(t, s) })
	})
}

// checkSpan fails on a span the receiver should never keep.
func checkSpan(t *testing.T, s Span) {
	if !s.useful() {
		t.Fatalf("kept a span with no latency: %+v", s)
	}
	for _, d := range []time.Duration{s.Queue, s.TTFT, s.Prefill, s.Decode, s.Inference, s.E2E} {
		if d < 0 || d > maxSeconds*time.Second {
			t.Fatalf("kept an impossible latency %v: %+v", d, s)
		}
	}
	if s.PromptTokens < 0 || s.CachedTokens < 0 || s.OutputTokens < 0 {
		t.Fatalf("kept a negative count: %+v", s)
	}
}

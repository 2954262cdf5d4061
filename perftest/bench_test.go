package perftest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/perfgate/perfgate/fixtures"
)

const vllmToken = `{"id":"cmpl-1","object":"text_completion","created":1,"model":"m","choices":[{"index":0,"text":" the","logprobs":null,"finish_reason":null,"stop_reason":null}],"usage":null}`

// memTransport answers every request with the same pre-built stream, so a benchmark measures
// the client alone: request building, the SSE reader, classification and record keeping.
type memTransport struct{ body []byte }

func (m memTransport) RoundTrip(*http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"text/event-stream"}},
		Body: io.NopCloser(bytes.NewReader(m.body))}, nil
}

func tokenStream(n int) []byte {
	var b bytes.Buffer
	for range n {
		b.WriteString("data: " + vllmToken + "\n\n")
	}
	fmt.Fprintf(&b, "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":512,\"completion_tokens\":%d}}\n\ndata: [DONE]\n\n", n)
	return b.Bytes()
}

// BenchmarkClientStream is the client's cost per streamed token and per request, with the
// network and server taken out (an in-memory transport). ns/token is the figure to watch.
//
//	go test -run '^$' -bench BenchmarkClientStream -benchmem ./perftest
func BenchmarkClientStream(b *testing.B) {
	for _, tokens := range []int{1, 128, 1024} {
		b.Run(fmt.Sprintf("tokens=%d", tokens), func(b *testing.B) {
			cl := newClient("http://mem", "m", Case{Load: Concurrency(1)})
			cl.http.Transport = memTransport{tokenStream(tokens)}
			req := fixtures.Request{Tokens: make([]int, 512), OutputTokens: tokens}
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				var rec Record
				cl.do(ctx, &req, nil, time.Now(), &rec)
				if rec.Outcome != OK || rec.Chunks != tokens {
					b.Fatalf("%s %d %s", rec.Outcome, rec.Chunks, rec.Error)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*tokens), "ns/token")
		})
	}
}

// BenchmarkClientStreamHTTP is the same over loopback HTTP against an instant server (the
// server's cost is included: both share the process).
//
//	go test -run '^$' -bench BenchmarkClientStreamHTTP -benchmem ./perftest
func BenchmarkClientStreamHTTP(b *testing.B) {
	const tokens = 256
	body := tokenStream(tokens)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = w.Write(body)
	}))
	defer srv.Close()
	cl := newClient(srv.URL, "m", Case{Load: Concurrency(1)})
	defer cl.close()
	req := fixtures.Request{Tokens: make([]int, 512), OutputTokens: tokens}
	b.ReportAllocs()
	for b.Loop() {
		var rec Record
		cl.do(context.Background(), &req, nil, time.Now(), &rec)
		if rec.Outcome != OK {
			b.Fatal(rec.Error)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*tokens), "ns/token")
}

// BenchmarkPacer is the open-loop scheduler's cost per arrival.
//
//	go test -run '^$' -bench BenchmarkPacer -benchmem ./perftest
func BenchmarkPacer(b *testing.B) {
	for _, l := range []Load{Rate(2000), PoissonRate(2000), GammaRate(2000, 0.5), {Rate: 100, Stages: []Stage{{time.Minute, 5000}}}} {
		b.Run(l.String(), func(b *testing.B) {
			p := newPacer(l, 1)
			var req fixtures.Request
			b.ReportAllocs()
			for b.Loop() {
				p.next(&req)
			}
		})
	}
}

// BenchmarkSourcePull is the cost of handing one request from the workload to a sender
// (iterator, lock, session bookkeeping), prompt generation included.
//
//	go test -run '^$' -bench BenchmarkSourcePull -benchmem ./perftest
func BenchmarkSourcePull(b *testing.B) {
	w := fixtures.Synthetic{ISL: 1, OSL: 1, Prompts: 1 << 30, Seed: 1}
	src := newSource(w, 0, time.Time{}, 0)
	defer src.stop()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, _, ok := src.pull(ctx, "synthetic"); !ok {
			b.Fatal("source ended")
		}
	}
}

package perftest

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/perfgate/perfgate/fixtures"
	"github.com/perfgate/perfgate/perftest/internal/api"
	"github.com/perfgate/perfgate/perftest/internal/sse"
)

// client sends workload requests to one server and records what happens. The request
// layer (internal/api) builds each body and turns the answer into events; the client sends
// the body (send), records the events (read) and classifies how the request ended.
type client struct {
	http         *http.Client
	fresh        *http.Client // the same transport's settings, a new connection for every request
	url          string       // full endpoint URL
	api          *api.API
	bodies       *api.Builder
	timeout      time.Duration
	stallTimeout time.Duration
	streams      sync.Pool // api.Stream
	key          string    // prefix of the requests' Idempotency-Key
	n            atomic.Int64
}

// maxTokenStamps bounds the token arrival times one record keeps; a stream that goes on
// past it is still counted (Record.Chunks) and timed to its end.
const maxTokenStamps = 1 << 16

// newClient returns the client of a case. The body of its requests is the API's, then the
// fields the target's engine asks for (Dialect.RequestFields), then Case.Extra.
func newClient(base, model string, c Case) *client {
	conns := c.Load.Concurrency
	if !c.Load.closed() {
		conns = cmp.Or(c.Load.MaxInFlight, 256)
	}
	tr := &http.Transport{
		Proxy:               nil, // never route a benchmark through a proxy
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
		// A request is its headers and a body that net/http writes past the buffer once it
		// is larger; 1 KiB instead of 4 saves 3 KiB on every open connection. The read
		// buffer stays at 4 KiB: a server that sends faster than the client reads hands it
		// that much per read system call.
		WriteBufferSize: 1 << 10,
		ReadBufferSize:  4 << 10,
	}
	a := c.API.spec()
	path, err := c.path()
	if err != nil {
		path = a.Path // Case.Validate reported it
	}
	// A redirect would turn the POST into a GET without its body, maybe to another host: an
	// API request is never redirected, and the 3xx is its outcome.
	noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	freshTr := tr.Clone()
	freshTr.DisableKeepAlives = true
	cl := &client{
		http:         &http.Client{Transport: tr, CheckRedirect: noRedirect},
		fresh:        &http.Client{Transport: freshTr, CheckRedirect: noRedirect},
		url:          base + path,
		api:          a,
		bodies:       api.NewBuilder(a, model, c.layers()),
		timeout:      cmp.Or(c.Timeout, 5*time.Minute),
		stallTimeout: cmp.Or(c.StallTimeout, 60*time.Second),
		key:          "perfgate-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "-",
	}
	cl.streams.New = func() any { return a.NewStream() }
	return cl
}

func (c *client) close() {
	c.http.CloseIdleConnections()
	c.fresh.CloseIdleConnections()
}

// body builds the request body (api.Builder.Body): it allocates once per request, never per
// token.
func (c *client) body(req *fixtures.Request) ([]byte, error) { return c.bodies.Body(req) }

// do sends one request that was due at start and fills rec; body is the request body built
// in advance (nil: build it now; open-loop pacing builds it while it waits for the send
// time, so that the work is not part of the schedule lag). It never returns an error: every
// failure is an Outcome, with the server's own message where it sent one.
func (c *client) do(ctx context.Context, req *fixtures.Request, body []byte, start time.Time, rec *Record) {
	rec.Index, rec.Session, rec.Turn = req.Index, req.Session, req.Turn
	rec.WantInput, rec.WantOutput, rec.WantResults = req.InputTokens, req.OutputTokens, c.api.WantResults(req)
	rec.InputExtra = uncounted(req)
	if !c.api.Pooling {
		rec.Tokens = make([]time.Duration, 0, min(max(req.OutputTokens, 0)+1, 4096))
	}
	if body == nil {
		var err error
		if body, err = c.body(req); err != nil {
			rec.fail(start, Malformed, err)
			return
		}
	}
	w := c.watch(ctx, start)
	defer w.stop()
	resp, err := c.send(w.ctx, body, start, rec)
	if err != nil {
		o := w.outcome()
		if o == "" {
			o = ConnError
		}
		rec.fail(start, o, fmt.Errorf("request %d: %w", req.Index, w.explain(o, err, rec.Chunks)))
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		rec.Status = resp.StatusCode
		rec.fail(start, HTTPError, fmt.Errorf("request %d: %w", req.Index, httpFailure(resp)))
		return
	}
	if o, err := c.read(resp, req.Index, start, rec, w); err != nil {
		rec.fail(start, o, fmt.Errorf("request %d: %w", req.Index, err))
	}
}

// send posts body and returns the answer's head. A server may close a kept-alive
// connection while the next request is being written on it (llama.cpp closes the
// connection after every streamed response while advertising Keep-Alive; any server's
// idle timeout can land the same way). A request the server provably never received -
// sent on a reused connection that the peer closed or reset before a byte of an answer
// came back - is resent once, on a fresh connection, and counted in rec.Retries, never
// failed. net/http resends such a request by itself only when none of it was written yet
// (the Idempotency-Key header allows that for a POST); those count too.
//
// Every request carries a W3C traceparent with a fresh trace id (rec.TraceID), which an
// engine that traces requests continues, and its connection's phases are traced into
// rec.Client (the last attempt's, when it was resent).
func (c *client) send(ctx context.Context, body []byte, start time.Time, rec *Record) (*http.Response, error) {
	rec.Sent = time.Since(start)
	key := c.key + strconv.FormatInt(c.n.Add(1), 10)
	tp := traceparent()
	rec.TraceID = tp[3:35]
	tr := &reqTrace{start: start}
	defer func() { rec.Client = tr.phases() }()
	resp, conns, unreceived, err := c.post(ctx, c.http, body, key, tp, tr)
	rec.Retries = max(conns-1, 0)
	if err == nil || !unreceived || ctx.Err() != nil {
		return resp, err
	}
	rec.Retries++
	resp, conns, _, err = c.post(ctx, c.fresh, body, key, tp, tr)
	rec.Retries += max(conns-1, 0)
	return resp, err
}

// post posts body with hc and returns the answer's head, the connections the request was
// written on, and, when it failed, whether the server provably never received it: the
// last connection was a reused one, the peer closed it, and nothing was read back.
func (c *client) post(ctx context.Context, hc *http.Client, body []byte, key, tp string, tr *reqTrace) (resp *http.Response, conns int, unreceived bool, err error) {
	tr.conns.Store(0)
	tr.answered.Store(false)
	ctx = httptrace.WithClientTrace(ctx, tr.hooks())
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, 0, false, err
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", c.api.Accept)
	hreq.Header.Set("Idempotency-Key", key)
	hreq.Header.Set("Traceparent", tp)
	resp, err = hc.Do(hreq)
	unreceived = err != nil && tr.reused.Load() && !tr.answered.Load() && closedByPeer(err)
	return resp, int(tr.conns.Load()), unreceived, err
}

// reqTrace follows one request's connection through net/http/httptrace: which connection
// it got, when a new one was up, when the request was written, when the answer's first
// byte came, as offsets from the request's scheduled time. The hooks run on the
// transport's goroutines, hence the atomics; three hooks, allocated once per request, never
// per token.
type reqTrace struct {
	start                       time.Time
	conns                       atomic.Int32 // connections the current attempt was written on
	reused, answered            atomic.Bool
	connected, wrote, firstByte atomic.Int64 // offsets, ns
}

func (t *reqTrace) hooks() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		// A new connection is up (dialled, and through TLS) when the transport hands it
		// over: that is Connected, without a hook per step.
		GotConn: func(info httptrace.GotConnInfo) {
			t.conns.Add(1)
			t.reused.Store(info.Reused)
			c := int64(0)
			if !info.Reused {
				c = int64(time.Since(t.start))
			}
			t.connected.Store(c)
		},
		WroteRequest: func(info httptrace.WroteRequestInfo) {
			if info.Err == nil {
				t.wrote.Store(int64(time.Since(t.start)))
			}
		},
		GotFirstResponseByte: func() {
			t.answered.Store(true)
			t.firstByte.Store(int64(time.Since(t.start)))
		},
	}
}

// phases is what the trace saw, nil when the request never got a connection.
func (t *reqTrace) phases() *ClientPhases {
	if t.conns.Load() == 0 && t.wrote.Load() == 0 {
		return nil
	}
	return &ClientPhases{Reused: t.reused.Load(), Connected: time.Duration(t.connected.Load()),
		Wrote: time.Duration(t.wrote.Load()), FirstByte: time.Duration(t.firstByte.Load())}
}

// traceparent returns a W3C traceparent header for a new trace: version 00, a random
// trace id and parent (span) id, sampled, so that an engine that traces requests records
// this one and continues its trace ("00-<32 hex>-<16 hex>-01").
func traceparent() string {
	var b [55]byte
	copy(b[:], "00-")
	hi, lo, span := rand.Uint64(), rand.Uint64(), rand.Uint64()
	if hi|lo == 0 {
		lo = 1 // an all-zero trace id is invalid
	}
	if span == 0 {
		span = 1
	}
	var raw [24]byte
	binary.BigEndian.PutUint64(raw[0:], hi)
	binary.BigEndian.PutUint64(raw[8:], lo)
	binary.BigEndian.PutUint64(raw[16:], span)
	hex.Encode(b[3:35], raw[:16])
	b[35] = '-'
	hex.Encode(b[36:52], raw[16:])
	copy(b[52:], "-01")
	return string(b[:])
}

// closedByPeer reports whether err says the other end closed or reset the connection.
func closedByPeer(err error) bool {
	return errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNABORTED) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// httpFailure says what an answer other than 200 was, with the server's own message.
func httpFailure(resp *http.Response) error {
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	what := sse.ErrorMessage(bytes.TrimSpace(msg))
	if loc := resp.Header.Get("Location"); resp.StatusCode/100 == 3 {
		what = fmt.Sprintf("redirect to %q not followed (an API request is never redirected)", loc)
	}
	return fmt.Errorf("HTTP %d: %s", resp.StatusCode, what)
}

// read records the events of a 200 answer into rec until it ends. A request that ended
// with its Done event is recorded there (OK, or Malformed when it carried no output);
// for one that failed, read returns the outcome and why.
func (c *client) read(resp *http.Response, index int, start time.Time, rec *Record, w *watchdog) (Outcome, error) {
	st := c.streams.Get().(api.Stream)
	st.Reset(resp.Body)
	defer func() { st.Reset(nil); c.streams.Put(st) }()
	for {
		ev, err := st.Next()
		if err != nil {
			return w.ended(err, resp, rec.Chunks)
		}
		off := ev.At.Sub(start)
		w.event(off)
		switch ev.Kind {
		case api.Output:
			rec.noteOutput(off, ev.Tokens, ev.Token)
		case api.Done:
			rec.finish(off, ev, index)
			return "", nil
		case api.Failed:
			return ServerError, fmt.Errorf("error in stream: %s", sse.ErrorMessage(ev.Data))
		case api.Malformed:
			return Malformed, fmt.Errorf("malformed chunk %.200q", ev.Data)
		}
	}
}

// fail records a failed request.
func (r *Record) fail(start time.Time, o Outcome, err error) {
	r.Outcome, r.Error = o, err.Error()
	r.Done = time.Since(start)
	r.closeKinds()
}

// noteOutput records an event at off that carried n tokens of kind t. Every kind counts
// for TTFT, ITL and TPOT; reasoning does not count for the first output token.
func (r *Record) noteOutput(off time.Duration, n int, t sse.Token) {
	if r.Chunks == 0 {
		r.FirstToken = off
	}
	if t == sse.Reasoning {
		r.StreamedReasoning += n
	} else if r.FirstOutput == 0 {
		r.FirstOutput = off
	}
	r.Chunks++
	if len(r.Tokens) < maxTokenStamps {
		r.Tokens = append(r.Tokens, off)
		r.noteChunkTokens(n)
		r.noteKind(kindLetters[t])
	}
}

// finish records the end of a request's answer at off, with the usage it reported: a
// stream that carried no token, or a pooling answer with other than one result per input,
// is malformed.
func (r *Record) finish(off time.Duration, ev api.Event, index int) {
	r.Done, r.Outcome = off, OK
	r.closeKinds()
	if ev.UsageErr != nil {
		r.UsageError = ev.UsageErr.Error()
	}
	if u := ev.Usage; u != nil {
		r.InputTokens, r.OutputTokens, r.CachedTokens = u.PromptTokens, u.CompletionTokens, u.CachedTokens
		r.ReasoningTokens, r.ReportsReasoning = u.ReasoningTokens, u.HasReasoning
	}
	r.Results = ev.Results
	r.noteServer(ev)
	switch {
	case r.WantResults > 0 && r.Results != r.WantResults:
		r.Outcome, r.Error = Malformed, fmt.Sprintf("request %d: asked for %d results (embeddings or scores), the answer holds %d", index, r.WantResults, r.Results)
	case r.WantResults == 0 && r.Chunks == 0:
		r.Outcome, r.Error = Malformed, fmt.Sprintf("request %d: stream finished without any token (of answer text, reasoning, a tool call or a refusal)", index)
	}
}

// noteServer records what the answer said of the request on the server's side: the id it
// gave it, and its own timings (llama.cpp's) as the request's server phases. Timings that
// cannot be true are refused, as usage is, and the record says why.
func (r *Record) noteServer(ev api.Event) {
	if len(ev.ID) > 0 {
		r.ResponseID = string(ev.ID)
	}
	if ev.TimingsErr != nil {
		r.TimingsError = ev.TimingsErr.Error()
	}
	if t := ev.Timings; t != nil {
		r.Server = &ServerPhases{Source: sourceTimings, Prefill: t.Prompt, Decode: t.Predicted,
			PromptTokens: t.PromptTokens + t.CachedTokens, CachedTokens: t.CachedTokens, OutputTokens: t.PredictedTokens}
	}
}

// noteChunkTokens records that the latest chunk of Tokens carried n tokens, keeping
// ChunkTokens only once a chunk with more than one appears.
func (r *Record) noteChunkTokens(n int) {
	if r.ChunkTokens == nil {
		if n == 1 {
			return
		}
		r.ChunkTokens = make([]int32, len(r.Tokens)-1, cap(r.Tokens))
		for i := range r.ChunkTokens {
			r.ChunkTokens[i] = 1
		}
	}
	r.ChunkTokens = append(r.ChunkTokens, int32(n))
}

// bodyKind says what a body without events was, when it is not an event stream.
func bodyKind(resp *http.Response, chunks int) string {
	ct, ce := resp.Header.Get("Content-Type"), resp.Header.Get("Content-Encoding")
	if chunks > 0 || (ce == "" && (ct == "" || bytes.HasPrefix([]byte(ct), []byte("text/event-stream")))) {
		return ""
	}
	s := fmt.Sprintf(" (the answer's Content-Type is %q", ct)
	if ce != "" {
		s += fmt.Sprintf(", Content-Encoding %q", ce)
	}
	return s + ", not an event stream)"
}

// uncounted reports whether a request's prompt holds parts its InputTokens does not count:
// tool definitions, images, a schema.
func uncounted(req *fixtures.Request) bool {
	if len(req.Tools) > 0 || len(req.Schema) > 0 {
		return true
	}
	for _, m := range req.Messages {
		if len(m.Images) > 0 || len(m.ToolCalls) > 0 {
			return true
		}
	}
	return false
}

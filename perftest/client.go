package perftest

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/perfgate/perfgate/fixtures"
	"github.com/perfgate/perfgate/perftest/internal/sse"
)

// client sends workload requests to one server and records what happens.
type client struct {
	http         *http.Client
	url          string // full endpoint URL
	model        string
	api          API
	extra        map[string]any // Case.Extra
	timeout      time.Duration
	stallTimeout time.Duration
	streams      sync.Pool // *stream
	key          string    // prefix of the requests' Idempotency-Key
	n            atomic.Int64
	rests        sync.Map // output length -> encoded fields but the prompt (rest)
	nRests       atomic.Int64
}

// stream is the per-request state the client reuses: the SSE reader and the last usage
// object seen, kept until the stream ends.
type stream struct {
	rd    *sse.Reader
	usage []byte
}

// maxTokenStamps bounds the token arrival times one record keeps; a stream that goes on
// past it is still counted (Record.Chunks) and timed to its end.
const maxTokenStamps = 1 << 16

// newClient returns the client of a case.
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
	cl := &client{
		http: &http.Client{Transport: tr,
			// A redirect would turn the POST into a GET without its body, maybe to another
			// host: an API request is never redirected, and the 3xx is its outcome.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		url:          base + c.API.path(),
		model:        model,
		api:          c.API,
		extra:        c.Extra,
		timeout:      cmp.Or(c.Timeout, 5*time.Minute),
		stallTimeout: cmp.Or(c.StallTimeout, 60*time.Second),
		key:          "perfgate-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "-",
	}
	cl.streams.New = func() any { return &stream{rd: sse.NewReader(nil)} }
	return cl
}

func (c *client) close() { c.http.CloseIdleConnections() }

// body builds the request body. Token-id prompts are written directly after the other
// fields, which depend only on the output length and are encoded once per length (the
// open-loop dispatcher builds every body: encoding/json's cost was a third of its CPU);
// other prompts go through encoding/json. It allocates once per request, never per token.
// For chat, a prompt of token ids becomes text, one word per id (fixtures.Text), so the
// input has the requested length in words.
func (c *client) body(req *fixtures.Request) ([]byte, error) {
	if c.api == Chat || len(req.Tokens) == 0 {
		b, err := json.Marshal(c.fields(req))
		if err != nil {
			return nil, fmt.Errorf("encode request %d: %w", req.Index, err)
		}
		return b, nil
	}
	rest, err := c.rest(req)
	if err != nil {
		return nil, err
	}
	// Splice "prompt":[ids...] into the object.
	buf := make([]byte, 0, len(rest)+len(req.Tokens)*6+16)
	buf = append(buf, `{"prompt":[`...)
	for i, t := range req.Tokens {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = strconv.AppendInt(buf, int64(t), 10)
	}
	if len(rest) <= 2 { // {}: Case.Extra removed every other field
		return append(buf, "]}"...), nil
	}
	buf = append(buf, "],"...)
	return append(buf, rest[1:]...), nil
}

// maxRests bounds the encoded field sets a client keeps, one per output length.
const maxRests = 1024

// rest is the encoded fields of a token-id request other than its prompt.
func (c *client) rest(req *fixtures.Request) ([]byte, error) {
	if b, ok := c.rests.Load(req.OutputTokens); ok {
		return b.([]byte), nil
	}
	b, err := json.Marshal(c.fields(&fixtures.Request{OutputTokens: req.OutputTokens, Tokens: req.Tokens}))
	if err != nil {
		return nil, fmt.Errorf("encode request %d: %w", req.Index, err)
	}
	if c.nRests.Add(1) <= maxRests {
		c.rests.Store(req.OutputTokens, b)
	}
	return b, nil
}

// fields are the members of a request's body, but for a prompt of token ids.
func (c *client) fields(req *fixtures.Request) map[string]any {
	fields := map[string]any{
		"model":          c.model,
		"max_tokens":     req.OutputTokens,
		"min_tokens":     req.OutputTokens,
		"ignore_eos":     true,
		"stream":         true,
		"stream_options": map[string]any{"include_usage": true},
		"temperature":    0,
	}
	switch {
	case c.api == Chat && len(req.Messages) > 0:
		fields["messages"] = req.Messages
	case c.api == Chat && req.Text == "" && len(req.Tokens) > 0:
		fields["messages"] = []fixtures.Message{{Role: "user", Content: fixtures.Text(req.Tokens)}}
	case c.api == Chat:
		fields["messages"] = []fixtures.Message{{Role: "user", Content: req.Text}}
	case len(req.Tokens) == 0:
		fields["prompt"] = req.Text
	}
	for k, v := range c.extra {
		if v == nil {
			delete(fields, k)
		} else {
			fields[k] = v
		}
	}
	return fields
}

// do sends one request that was due at start and fills rec; body is the request body built
// in advance (nil: build it now; open-loop pacing builds it while it waits for the send
// time, so that the work is not part of the schedule lag). It never returns an error: every
// failure is an Outcome, with the server's own message where it sent one.
//
// The request carries an Idempotency-Key, so that net/http resends it when a kept-alive
// connection turns out to be closed before any of the request reached the server (servers
// such as llama.cpp close the connection after a streamed response while advertising
// Keep-Alive); such resends are counted in Record.Retries, not as failures.
func (c *client) do(ctx context.Context, req *fixtures.Request, body []byte, start time.Time, rec *Record) {
	rec.Index, rec.Session, rec.Turn = req.Index, req.Session, req.Turn
	rec.WantInput, rec.WantOutput = req.InputTokens, req.OutputTokens
	rec.Tokens = make([]time.Duration, 0, min(max(req.OutputTokens, 0)+1, 4096))
	fail := func(o Outcome, err error) {
		rec.Outcome, rec.Error = o, err.Error()
		rec.Done = time.Since(start)
	}

	if body == nil {
		var err error
		if body, err = c.body(req); err != nil {
			fail(Malformed, err)
			return
		}
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	// The stall timer is not reset per event (a timer reset costs more than the rest of a
	// token's bookkeeping): each event stores its offset, and the timer, when it fires,
	// sleeps again for what is left of the stall timeout after the latest event.
	var stalled, finished atomic.Bool
	var lastEvent atomic.Int64 // offset from start of the latest event, ns
	lastEvent.Store(int64(time.Since(start)))
	var stall *time.Timer
	stall = time.AfterFunc(time.Duration(math.MaxInt64), func() {
		if finished.Load() {
			return
		}
		if idle := time.Since(start) - time.Duration(lastEvent.Load()); idle < c.stallTimeout {
			stall.Reset(c.stallTimeout - idle)
			return
		}
		stalled.Store(true)
		cancel()
	})
	stall.Reset(c.stallTimeout)
	defer func() { finished.Store(true); stall.Stop() }()
	// classify says why ctx ended, or "" when it has not.
	classify := func() Outcome {
		switch {
		case stalled.Load():
			return Stall
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			return Timeout
		case ctx.Err() != nil:
			return Canceled
		}
		return ""
	}
	// why says what a classified outcome means, in place of the context's own error
	// ("context canceled" says nothing of a stall).
	why := func(o Outcome, err error) error {
		switch o {
		case Stall:
			return fmt.Errorf("no event for %v (the stall timeout) after %d chunks", c.stallTimeout, rec.Chunks)
		case Timeout:
			return fmt.Errorf("not done within %v (the request timeout) after %d chunks", c.timeout, rec.Chunks)
		case Canceled:
			return fmt.Errorf("the run was stopped after %d chunks: %w", rec.Chunks, context.Cause(ctx))
		}
		return err
	}

	var conns atomic.Int32
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { conns.Add(1) }})
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		fail(ConnError, fmt.Errorf("request %d: %w", req.Index, err))
		return
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "text/event-stream")
	hreq.Header.Set("Idempotency-Key", c.key+strconv.FormatInt(c.n.Add(1), 10))
	rec.Sent = time.Since(start)
	resp, err := c.http.Do(hreq)
	rec.Retries = max(int(conns.Load())-1, 0)
	if err != nil {
		o := classify()
		if o == "" {
			o = ConnError
		}
		fail(o, fmt.Errorf("request %d: %w", req.Index, why(o, err)))
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		rec.Status = resp.StatusCode
		what := sse.ErrorMessage(bytes.TrimSpace(msg))
		if loc := resp.Header.Get("Location"); resp.StatusCode/100 == 3 {
			what = fmt.Sprintf("redirect to %q not followed (an API request is never redirected)", loc)
		}
		fail(HTTPError, fmt.Errorf("request %d: HTTP %d: %s", req.Index, resp.StatusCode, what))
		return
	}
	st := c.streams.Get().(*stream)
	st.rd.Reset(resp.Body)
	st.usage = st.usage[:0]
	defer func() { st.rd.Reset(nil); c.streams.Put(st) }()
	usageTokens := 0 // completion_tokens of the last usage seen on a text chunk
	for {
		ev, err := st.rd.Next()
		if err != nil {
			o := classify()
			switch {
			case o != "":
				err = why(o, err)
			case errors.Is(err, sse.ErrLineTooLong):
				o = Malformed
				err = fmt.Errorf("server-sent event line longer than %d bytes after %d chunks", sse.MaxLine, rec.Chunks)
			default:
				o = Disconnect
				err = fmt.Errorf("stream ended before [DONE] after %d chunks%s: %w", rec.Chunks, bodyKind(resp, rec.Chunks), err)
			}
			fail(o, fmt.Errorf("request %d: %w", req.Index, err))
			return
		}
		off := ev.At.Sub(start)
		lastEvent.Store(int64(off))
		if ev.Error {
			fail(ServerError, fmt.Errorf("request %d: error in stream: %s", req.Index, sse.ErrorMessage(ev.Data)))
			return
		}
		ch := sse.Parse(ev.Data)
		if ch.Usage != nil {
			st.usage = append(st.usage[:0], ch.Usage...)
		}
		switch ch.Kind {
		case sse.TokenChunk:
			if rec.Chunks == 0 {
				rec.FirstToken = off
			}
			rec.Chunks++
			if len(rec.Tokens) < maxTokenStamps {
				rec.Tokens = append(rec.Tokens, off)
				// Usage on every chunk (continuous usage stats) says how many tokens
				// this chunk carried.
				n := 1
				if u, ok := ch.CompletionTokens(); ok && u > usageTokens {
					n, usageTokens = u-usageTokens, u
				}
				rec.noteChunkTokens(n)
			}
		case sse.EmptyChunk, sse.UsageChunk:
		case sse.DoneChunk:
			rec.Done = off
			rec.Outcome = OK
			if u, ok := sse.ParseUsage(st.usage); ok {
				rec.InputTokens, rec.OutputTokens, rec.CachedTokens = u.PromptTokens, u.CompletionTokens, u.CachedTokens
			}
			if rec.Chunks == 0 {
				rec.Outcome, rec.Error = Malformed, fmt.Sprintf("request %d: stream finished without any text chunk", req.Index)
			}
			return
		case sse.ErrorChunk:
			fail(ServerError, fmt.Errorf("request %d: error in stream: %s", req.Index, sse.ErrorMessage(ev.Data)))
			return
		case sse.MalformedChunk:
			fail(Malformed, fmt.Errorf("request %d: malformed chunk %.200q", req.Index, ev.Data))
			return
		}
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

package perftest

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
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
	readers      sync.Pool // *sse.Reader
}

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
	}
	cl := &client{
		http:         &http.Client{Transport: tr},
		url:          base + c.API.path(),
		model:        model,
		api:          c.API,
		extra:        c.Extra,
		timeout:      cmp.Or(c.Timeout, 5*time.Minute),
		stallTimeout: cmp.Or(c.StallTimeout, 60*time.Second),
	}
	cl.readers.New = func() any { return sse.NewReader(nil) }
	return cl
}

func (c *client) close() { c.http.CloseIdleConnections() }

// body builds the request body. Token-id prompts are written directly; other fields go
// through encoding/json. It allocates once per request, never per token.
func (c *client) body(req *fixtures.Request) ([]byte, error) {
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
	b, err := json.Marshal(fields)
	if err != nil {
		return nil, fmt.Errorf("encode request %d: %w", req.Index, err)
	}
	if c.api == Chat || len(req.Tokens) == 0 {
		return b, nil
	}
	// Splice "prompt":[ids...] into the object.
	buf := make([]byte, 0, len(b)+len(req.Tokens)*6+16)
	buf = append(buf, `{"prompt":[`...)
	for i, t := range req.Tokens {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = strconv.AppendInt(buf, int64(t), 10)
	}
	buf = append(buf, "],"...)
	return append(buf, b[1:]...), nil
}

// do sends one request that was due at start and fills rec; body is the request body built
// in advance (nil: build it now; open-loop pacing builds it while it waits for the send
// time, so that the work is not part of the schedule lag). It never returns an error: every
// failure is an Outcome.
func (c *client) do(ctx context.Context, req *fixtures.Request, body []byte, start time.Time, rec *Record) {
	rec.Index, rec.Session, rec.Turn = req.Index, req.Session, req.Turn
	rec.WantInput, rec.WantOutput = req.InputTokens, req.OutputTokens
	rec.Tokens = make([]time.Duration, 0, req.OutputTokens+1)
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
	var stalled atomic.Bool
	stall := time.AfterFunc(c.stallTimeout, func() { stalled.Store(true); cancel() })
	defer stall.Stop()
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

	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		fail(ConnError, fmt.Errorf("request %d: %w", req.Index, err))
		return
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "text/event-stream")
	rec.Sent = time.Since(start)
	resp, err := c.http.Do(hreq)
	if err != nil {
		o := classify()
		if o == "" {
			o = ConnError
		}
		fail(o, fmt.Errorf("request %d: %w", req.Index, err))
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		rec.Status = resp.StatusCode
		fail(HTTPError, fmt.Errorf("request %d: HTTP %d: %s", req.Index, resp.StatusCode, sse.ErrorMessage(bytes.TrimSpace(msg))))
		return
	}

	rd := c.readers.Get().(*sse.Reader)
	rd.Reset(resp.Body)
	defer func() { rd.Reset(nil); c.readers.Put(rd) }()
	for {
		data, at, err := rd.Next()
		if err != nil {
			o := classify()
			if o == "" {
				o = Disconnect
				err = fmt.Errorf("stream ended before [DONE] after %d chunks: %w", rec.Chunks, err)
			}
			fail(o, fmt.Errorf("request %d: %w", req.Index, err))
			return
		}
		stall.Reset(c.stallTimeout)
		switch sse.Classify(data) {
		case sse.TokenChunk:
			off := at.Sub(start)
			if rec.Chunks == 0 {
				rec.FirstToken = off
			}
			rec.Chunks++
			rec.Tokens = append(rec.Tokens, off)
		case sse.EmptyChunk:
		case sse.UsageChunk:
			if u, ok := sse.ParseUsage(data); ok {
				rec.InputTokens, rec.OutputTokens, rec.CachedTokens = u.PromptTokens, u.CompletionTokens, u.CachedTokens
			}
		case sse.DoneChunk:
			rec.Done = at.Sub(start)
			rec.Outcome = OK
			if rec.Chunks == 0 {
				rec.Outcome, rec.Error = Malformed, fmt.Sprintf("request %d: stream finished without any text chunk", req.Index)
			}
			return
		case sse.ErrorChunk:
			fail(ServerError, fmt.Errorf("request %d: error in stream: %s", req.Index, sse.ErrorMessage(data)))
			return
		case sse.MalformedChunk:
			fail(Malformed, fmt.Errorf("request %d: malformed chunk %.200q", req.Index, data))
			return
		}
	}
}

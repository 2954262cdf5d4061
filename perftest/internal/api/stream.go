package api

import (
	"io"
	"time"

	"github.com/perfgate/perfgate/perftest/internal/sse"
)

// Stream reads answers, one at a time, event by event. A stream is reused from request to
// request (Reset), so that reading a token allocates nothing.
type Stream interface {
	// Reset makes the stream read r from its start; nil lets go of the last one.
	Reset(r io.Reader)
	// Next returns the next event. Its error is the reader's: io.EOF or another error when
	// the answer ended before a Done event, sse.ErrLineTooLong for an oversized line.
	Next() (Event, error)
}

// Kind says what an event is to the record of a request.
type Kind uint8

// Kinds of event.
const (
	// Output carries generated output: Tokens says how many tokens.
	Output Kind = iota
	// Other carries nothing the record counts (a role-only delta, held-back bytes, a
	// usage summary): it shows only that the server is alive.
	Other
	// Done ends the answer; Usage holds the counts the server reported last, if any.
	Done
	// Failed is an error the server sent inside the stream; Data holds it.
	Failed
	// Malformed is an event the API does not allow; Data holds it.
	Malformed
)

// Event is what the record of a request needs of one event of its answer.
type Event struct {
	Kind Kind
	// At is when the event's first byte arrived.
	At time.Time
	// Tokens is the number of tokens an Output event carried: 1, unless usage on every
	// chunk (continuous usage stats) says more.
	Tokens int
	// Token is what an Output event's tokens are: answer text, reasoning, tool-call
	// arguments or a refusal.
	Token sse.Token
	// Usage is the token counts a Done event reports (nil: none), valid until the next call
	// of Next.
	Usage *sse.Usage
	// UsageErr says why the usage a Done event came with was refused (it wraps
	// sse.ErrBadUsage): counts that cannot be true are never recorded.
	UsageErr error
	// Results is how many results a pooling answer's Done event holds (embeddings, scores).
	Results int
	// ID is the id the server gave the request, from the first chunk that carried one
	// ("chatcmpl-42"), on a Done event; nil when none did. Valid until the next call of
	// Next.
	ID []byte
	// Timings is the server's timing of the request (llama.cpp's "timings" on its last
	// chunk) on a Done event, nil when it sent none; TimingsErr says why the timings it
	// sent were refused.
	Timings    *sse.Timings
	TimingsErr error
	// Data is the event's data, valid until the next call of Next.
	Data []byte
}

// chunkStream reads the server-sent events of completions and chat: "data:" lines of JSON
// chunks ending with "data: [DONE]".
type chunkStream struct {
	rd    *sse.Reader
	usage []byte // the last usage object seen, kept until the stream ends
	// parsed is usage decoded, at the end of the stream.
	parsed sse.Usage
	// id is the request's id (the first chunk's), timings the last timings object seen,
	// and timed timings decoded at the end of the stream.
	id, timings []byte
	timed       sse.Timings
	// counted is the completion_tokens of the last usage seen on a text chunk.
	counted int
}

func newChunkStream() Stream { return &chunkStream{rd: sse.NewReader(nil)} }

func (s *chunkStream) Reset(r io.Reader) {
	s.rd.Reset(r)
	s.usage, s.counted = s.usage[:0], 0
	s.id, s.timings = s.id[:0], s.timings[:0]
}

func (s *chunkStream) Next() (Event, error) {
	ev, err := s.rd.Next()
	if err != nil {
		return Event{}, err
	}
	out := Event{Kind: Other, At: ev.At, Data: ev.Data}
	if ev.Error { // an "event: error" line
		out.Kind = Failed
		return out, nil
	}
	ch := sse.Parse(ev.Data)
	if ch.Usage != nil {
		s.usage = append(s.usage[:0], ch.Usage...)
	}
	if len(s.id) == 0 && len(ch.ID) > 0 {
		s.id = append(s.id, ch.ID...)
	}
	if ch.Timings != nil {
		s.timings = append(s.timings[:0], ch.Timings...)
	}
	switch ch.Kind {
	case sse.TokenChunk:
		out.Kind, out.Tokens, out.Token = Output, 1, ch.Token
		if u, ok := ch.CompletionTokens(); ok && u > s.counted {
			out.Tokens, s.counted = u-s.counted, u
		}
	case sse.DoneChunk:
		out.Kind = Done
		out.Usage, out.UsageErr = parseUsage(s.usage, &s.parsed)
		out.ID = s.id
		out.Timings, out.TimingsErr = parseTimings(s.timings, &s.timed)
	case sse.ErrorChunk:
		out.Kind = Failed
	case sse.MalformedChunk:
		out.Kind = Malformed
	}
	return out, nil
}

// parseUsage decodes a raw usage into *into and returns it (nil: none), or the error that
// refused it.
func parseUsage(raw []byte, into *sse.Usage) (*sse.Usage, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	u, ok, err := sse.ParseUsage(raw)
	if err != nil || !ok {
		return nil, err
	}
	*into = u
	return into, nil
}

// parseTimings decodes raw timings into *into and returns it (nil: none), or the error that
// refused them.
func parseTimings(raw []byte, into *sse.Timings) (*sse.Timings, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	t, err := sse.ParseTimings(raw)
	if err != nil {
		return nil, err
	}
	*into = t
	return into, nil
}

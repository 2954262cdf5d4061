// Package sse reads the server-sent events of an OpenAI-compatible streaming response and
// classifies each chunk, stamping every event with the moment its bytes arrived and
// allocating nothing per token: the client's hot path.
package sse

import (
	"bytes"
	"errors"
	"io"
	"time"
)

// Event is one server-sent event.
type Event struct {
	// Data is the event's data (its "data:" lines joined by "\n"), a view into the reader's
	// buffer valid until the next call of Next.
	Data []byte
	// At is when the Read that completed the event returned: its arrival, taken before
	// any decoding.
	At time.Time
	// Error is set for an event of type "error" or one carried by an "error:" line, which
	// llama.cpp sends for failures inside a stream.
	Error bool
}

// Reader reads server-sent events as the HTML standard defines them: lines end with CRLF,
// LF or CR; an event is its "data:" lines up to a blank line; comments and the id and retry
// fields are skipped; a byte-order mark at the start is ignored. It does not allocate per
// event once its buffers have grown to the stream's event size.
type Reader struct {
	src    io.Reader
	buf    []byte
	r, w   int       // unread bytes are buf[r:w]
	last   time.Time // when the latest Read returned
	eof    error     // the error that ended the stream (io.EOF or another), once seen
	data   []byte    // the event being assembled, when it has several data lines
	view   []byte    // the event's only data line, still in buf, when inView
	inView bool
	any    bool // the event has a data line
	isErr  bool
	start  bool // at the start of the stream: a BOM may come
	cut    bool // the stream ended inside a line
}

// bufSize is the buffer a Reader starts with; it grows for longer lines. The connection's
// own read buffer sits below it (net/http's Transport.ReadBufferSize), so it needs to hold
// only an event or a few: 10,000 open streams hold 10,000 of them.
const bufSize = 1 << 10

// ErrLineTooLong is returned for a line over MaxLine bytes.
var ErrLineTooLong = errors.New("sse: line longer than 1 MiB")

// MaxLine bounds one line, and one event's data.
const MaxLine = 1 << 20

// NewReader returns a Reader of r.
func NewReader(r io.Reader) *Reader {
	s := &Reader{buf: make([]byte, bufSize)}
	s.Reset(r)
	return s
}

// Reset makes s read from r, reusing its buffers.
func (s *Reader) Reset(r io.Reader) {
	s.src, s.r, s.w, s.eof, s.last = r, 0, 0, nil, time.Time{}
	s.data, s.view, s.inView, s.any, s.isErr, s.start, s.cut = s.data[:0], nil, false, false, false, true, false
}

// own copies the event's data line out of buf.
func (s *Reader) own() {
	if s.inView {
		s.data, s.view, s.inView = append(s.data[:0], s.view...), nil, false
	}
}

// fill reads more bytes, making room first. It returns false when the stream has ended.
func (s *Reader) fill() bool {
	if s.eof != nil {
		return false
	}
	s.own() // the event's data line is about to be moved or overwritten
	if s.r > 0 {
		s.w = copy(s.buf, s.buf[s.r:s.w])
		s.r = 0
	}
	if s.w == len(s.buf) {
		if len(s.buf) >= MaxLine+2 {
			s.eof = ErrLineTooLong
			return false
		}
		nb := make([]byte, min(2*len(s.buf), MaxLine+2))
		copy(nb, s.buf[:s.w])
		s.buf = nb
	}
	n, err := s.src.Read(s.buf[s.w:])
	s.last = time.Now()
	s.w += n
	if err != nil {
		s.eof = err
	}
	return n > 0 || err == nil
}

// line returns the next line without its end, or ok false at the end of the stream. The
// view is valid until the next call.
func (s *Reader) line() (line []byte, ok bool) {
	for {
		seg := s.buf[s.r:s.w]
		if i := bytes.IndexByte(seg, '\n'); i >= 0 {
			if j := bytes.IndexByte(seg[:i], '\r'); j >= 0 && j < i-1 {
				s.r += j + 1 // a lone CR ends the line
				return seg[:j], true
			}
			s.r += i + 1
			return bytes.TrimSuffix(seg[:i], []byte{'\r'}), true
		}
		if j := bytes.IndexByte(seg, '\r'); j >= 0 && j < len(seg)-1 {
			s.r += j + 1 // CR-only line ends
			return seg[:j], true
		}
		if len(seg) > MaxLine {
			s.eof = ErrLineTooLong
			return nil, false
		}
		if !s.fill() {
			if s.eof == ErrLineTooLong {
				return nil, false
			}
			seg = s.buf[s.r:s.w]
			if len(seg) == 0 {
				return nil, false
			}
			s.r = s.w // the last line, without an end
			s.cut = seg[len(seg)-1] != '\r'
			return bytes.TrimSuffix(seg, []byte{'\r'}), true
		}
	}
}

// eventData is the data of the event being dispatched.
func (s *Reader) eventData() []byte {
	if s.inView {
		return s.view
	}
	return s.data
}

// Next returns the next event. At the end of the stream it returns io.EOF; a stream cut
// inside an event returns io.ErrUnexpectedEOF, a line over MaxLine ErrLineTooLong, and a
// failed read that read's error.
func (s *Reader) Next() (Event, error) {
	for {
		line, ok := s.line()
		if !ok {
			switch {
			case s.eof == ErrLineTooLong:
				return Event{At: s.last}, ErrLineTooLong
			case s.cut:
				return Event{At: s.last}, io.ErrUnexpectedEOF
			case s.any:
				// Data without the blank line that ends its event: give it, then EOF.
				s.any = false
				return Event{Data: s.eventData(), At: s.last, Error: s.isErr}, nil
			case s.eof == nil || s.eof == io.EOF:
				return Event{At: s.last}, io.EOF
			}
			return Event{At: s.last}, s.eof
		}
		if s.start {
			s.start = false
			line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf"))
		}
		if len(line) == 0 {
			if !s.any {
				continue
			}
			ev := Event{Data: s.eventData(), At: s.last, Error: s.isErr}
			s.data, s.view, s.inView, s.any, s.isErr = s.data[:0], nil, false, false, false
			return ev, nil
		}
		name, value, _ := bytes.Cut(line, []byte{':'})
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
		switch string(name) {
		case "data", "error":
			if !s.any {
				// Most events have one data line: it stays in buf, uncopied.
				s.view, s.inView = value, true
			} else {
				s.own()
				if len(s.data)+1+len(value) > MaxLine {
					return Event{At: s.last}, ErrLineTooLong
				}
				s.data = append(append(s.data, '\n'), value...)
			}
			s.any = true
			s.isErr = s.isErr || string(name) == "error"
		case "event":
			s.isErr = s.isErr || string(value) == "error"
		}
		// Comments (":..."), id, retry and unknown fields are ignored.
	}
}

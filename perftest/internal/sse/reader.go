// Package sse reads the server-sent events of an OpenAI-compatible streaming response and
// classifies each chunk, stamping every event with the moment its bytes arrived and
// allocating nothing per token: the client's hot path.
package sse

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"time"
)

// stampReader records when each Read of the response body returned. bufio asks for more
// bytes only when its buffer holds no full line, so when a line is returned, the latest Read
// is the one that delivered its last byte: that time is the event's arrival time, taken
// before any decoding.
type stampReader struct {
	r    io.Reader
	last time.Time
}

func (s *stampReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	s.last = time.Now()
	return n, err
}

// Reader reads server-sent events of an OpenAI-compatible stream. It does not allocate
// per event: Next returns a view into its buffer that is valid until the next call.
type Reader struct {
	src  stampReader
	br   *bufio.Reader
	long []byte // assembles lines longer than br's buffer (rare)
}

const bufSize = 8 << 10

func NewReader(r io.Reader) *Reader {
	s := &Reader{src: stampReader{r: r}}
	s.br = bufio.NewReaderSize(&s.src, bufSize)
	return s
}

// reset makes s read from r, reusing its buffers.
func (s *Reader) Reset(r io.Reader) {
	s.src = stampReader{r: r}
	s.br.Reset(&s.src)
	s.long = s.long[:0]
}

// ErrLineTooLong is returned for an SSE line over MaxLine bytes.
var ErrLineTooLong = errors.New("sse: line longer than 1 MiB")

const MaxLine = 1 << 20

// Next returns the payload of the next "data:" line and the time its bytes arrived.
// Comments, event/id/retry fields and blank lines are skipped. At the end of the stream it
// returns io.EOF; a stream cut inside a line returns io.ErrUnexpectedEOF.
func (s *Reader) Next() (data []byte, at time.Time, err error) {
	for {
		line, err := s.br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			s.long = append(s.long[:0], line...)
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = s.br.ReadSlice('\n')
				s.long = append(s.long, line...)
				if len(s.long) > MaxLine {
					return nil, s.src.last, ErrLineTooLong
				}
			}
			line = s.long
		}
		if err != nil {
			if err == io.EOF && len(line) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return nil, s.src.last, err
		}
		line = bytes.TrimRight(line, "\r\n")
		payload, ok := bytes.CutPrefix(line, []byte("data:"))
		if !ok {
			continue // blank line, comment (":..."), or a field perfgate does not use
		}
		if len(payload) > 0 && payload[0] == ' ' {
			payload = payload[1:]
		}
		return payload, s.src.last, nil
	}
}

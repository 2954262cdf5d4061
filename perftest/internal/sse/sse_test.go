package sse

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	vllmToken    = `{"id":"cmpl-1","object":"text_completion","created":1,"model":"m","choices":[{"index":0,"text":" the","logprobs":null,"finish_reason":null,"stop_reason":null}],"usage":null}`
	vllmLast     = `{"id":"cmpl-1","object":"text_completion","created":1,"model":"m","choices":[{"index":0,"text":".","logprobs":null,"finish_reason":"length","stop_reason":null}],"usage":null}`
	vllmUsage    = `{"id":"cmpl-1","object":"text_completion","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":512,"total_tokens":640,"completion_tokens":128,"prompt_tokens_details":{"cached_tokens":496}}}`
	chatRole     = `{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}`
	chatToken    = `{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}`
	chatNull     = `{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":null},"finish_reason":"stop"}]}`
	vllmError    = `{"object":"error","message":"out of memory","type":"InternalServerError","param":null,"code":500}`
	openaiError  = `{"error":{"message":"boom","type":"server_error","code":500}}`
	trickyToken  = `{"choices":[{"index":0,"text":"\"error\": {\"usage\"} choices [] "}]}`
	escapedEmpty = `{"choices":[{"text":""}]}`
)

func TestClassifyChunk(t *testing.T) {
	for _, tc := range []struct {
		data string
		want Kind
	}{
		{vllmToken, TokenChunk},
		{vllmLast, TokenChunk},
		{vllmUsage, UsageChunk},
		{`{"choices": [ ], "usage": {"prompt_tokens": 1}}`, UsageChunk},
		{chatRole, EmptyChunk},
		{chatToken, TokenChunk},
		{chatNull, EmptyChunk},
		{vllmError, ErrorChunk},
		{openaiError, ErrorChunk},
		{trickyToken, TokenChunk},
		{escapedEmpty, EmptyChunk},
		{"[DONE]", DoneChunk},
		{`{"choices":[{"text":" a"}`, MalformedChunk},
		{`not json`, MalformedChunk},
		{`{"id":"x"}`, MalformedChunk},
		{`{"choices":"nope"}`, MalformedChunk},
		{`[1,2]`, MalformedChunk},
	} {
		assert.Equal(t, tc.want, Classify([]byte(tc.data)), tc.data)
	}
}

func TestErrorMessage(t *testing.T) {
	assert.Equal(t, "out of memory", ErrorMessage([]byte(vllmError)))
	assert.Equal(t, "boom", ErrorMessage([]byte(openaiError)))
	assert.Equal(t, "plain text", ErrorMessage([]byte("plain text")))
}

func stream(events ...string) string {
	var b strings.Builder
	for _, e := range events {
		b.WriteString("data: " + e + "\n\n")
	}
	return b.String()
}

func readAll(t *testing.T, r io.Reader) ([]string, error) {
	t.Helper()
	s := NewReader(r)
	var out []string
	for {
		d, at, err := s.Next()
		if err != nil {
			return out, err
		}
		require.False(t, at.IsZero(), "event without arrival stamp")
		out = append(out, string(d))
	}
}

func TestSSEReader(t *testing.T) {
	in := ": keep-alive comment\r\nevent: message\r\ndata: " + vllmToken + "\r\n\r\ndata:" + vllmLast + "\n\n" + "id: 7\nretry: 10\n" + stream(vllmUsage, "[DONE]")
	got, err := readAll(t, strings.NewReader(in))
	assert.ErrorIs(t, err, io.EOF)
	assert.Equal(t, []string{vllmToken, vllmLast, vllmUsage, "[DONE]"}, got)
}

func TestSSEReaderLongLine(t *testing.T) {
	long := `{"choices":[{"text":"` + strings.Repeat("x", 3*bufSize) + `"}]}`
	got, err := readAll(t, strings.NewReader(stream(long, vllmToken)))
	assert.ErrorIs(t, err, io.EOF)
	require.Len(t, got, 2)
	assert.Equal(t, long, got[0])
	assert.Equal(t, vllmToken, got[1])
}

func TestSSEReaderTooLong(t *testing.T) {
	_, err := readAll(t, strings.NewReader("data: "+strings.Repeat("x", MaxLine+10)))
	assert.ErrorIs(t, err, ErrLineTooLong)
}

func TestSSEReaderCutMidLine(t *testing.T) {
	got, err := readAll(t, strings.NewReader(stream(vllmToken)+"data: {\"choi"))
	assert.Equal(t, []string{vllmToken}, got)
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
}

// chunkedReader returns one event per Read, like a server flushing each token.
type chunkedReader struct {
	events [][]byte
	i      int
}

func (c *chunkedReader) Read(p []byte) (int, error) {
	if c.i == len(c.events) {
		return 0, io.EOF
	}
	n := copy(p, c.events[c.i])
	c.i++
	return n, nil
}

// TestSSENoAllocPerToken checks the hot path: reading and classifying a token event
// allocates nothing.
func TestSSENoAllocPerToken(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race; go test without -race checks them")
	}
	ev := []byte("data: " + vllmToken + "\n\n")
	events := make([][]byte, 1000)
	for i := range events {
		events[i] = ev
	}
	src := &chunkedReader{events: events}
	s := NewReader(src)
	allocs := testing.AllocsPerRun(500, func() {
		d, _, err := s.Next()
		if err != nil || Classify(d) != TokenChunk {
			t.Fatalf("unexpected event %q %v", d, err)
		}
	})
	assert.Zero(t, allocs, "allocations per token event")
}

func BenchmarkSSEToken(b *testing.B) {
	ev := []byte("data: " + vllmToken + "\n\n")
	var buf bytes.Buffer
	for range 4096 {
		buf.Write(ev)
	}
	data := buf.Bytes()
	r := bytes.NewReader(data)
	s := NewReader(r)
	b.ReportAllocs()
	b.SetBytes(int64(len(ev)))
	b.ResetTimer()
	for range b.N {
		d, _, err := s.Next()
		if errors.Is(err, io.EOF) {
			r.Reset(data)
			s.Reset(r)
			d, _, err = s.Next()
		}
		if err != nil || Classify(d) != TokenChunk {
			b.Fatal(err)
		}
	}
}

// FuzzSSE feeds arbitrary bytes to the reader and classifier: they must never panic or
// loop, and every payload comes from a "data:" line.
func FuzzSSE(f *testing.F) {
	f.Add([]byte(stream(vllmToken, vllmUsage, "[DONE]")))
	f.Add([]byte(stream(chatRole, chatToken, chatNull, "[DONE]")))
	f.Add([]byte(stream(vllmError)))
	f.Add([]byte(": c\r\ndata:{\"choices\":[{\"text\":\"\\\"\"}]}\r\n\r\n"))
	f.Add([]byte("data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]"))
	f.Fuzz(func(t *testing.T, in []byte) {
		s := NewReader(bytes.NewReader(in))
		for range len(in) + 1 {
			d, _, err := s.Next()
			if err != nil {
				return
			}
			if !bytes.Contains(in, d) {
				t.Fatalf("payload %q not in input", d)
			}
			k := Classify(d)
			if k == UsageChunk || k == TokenChunk || k == EmptyChunk {
				if _, ok := Field(d, "choices"); !ok {
					if _, ok := Field(d, "usage"); !ok {
						t.Fatalf("kind %d without choices or usage: %q", k, d)
					}
				}
			}
		}
		t.Fatal("reader did not finish")
	})
}

package sse

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

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
	// llama.cpp's last chunk: usage beside a choice with empty text.
	llamaLast = `{"choices":[{"text":"","index":0,"logprobs":null,"finish_reason":"length"}],"created":1,"model":"m","object":"text_completion","usage":{"completion_tokens":32,"prompt_tokens":8,"total_tokens":40}}`
	// TensorRT-LLM with continuous usage stats: usage on every chunk.
	trtToken = `{"id":"cmpl-9","object":"text_completion","created":1,"model":"m","choices":[{"index":0,"text":" a","token_ids":null,"finish_reason":null}],"usage":{"prompt_tokens":8,"total_tokens":11,"completion_tokens":3}}`
	// A chunk whose "error" member is null is no error.
	nullError = `{"choices":[{"text":" x"}],"error":null}`
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		data  string
		want  Kind
		usage bool
	}{
		{vllmToken, TokenChunk, false},
		{vllmLast, TokenChunk, false},
		{vllmUsage, UsageChunk, true},
		{`{"choices": [ ], "usage": {"prompt_tokens": 1}}`, UsageChunk, true},
		{chatRole, EmptyChunk, false},
		{chatToken, TokenChunk, false},
		{chatNull, EmptyChunk, false},
		{vllmError, ErrorChunk, false},
		{openaiError, ErrorChunk, false},
		{trickyToken, TokenChunk, false},
		{escapedEmpty, EmptyChunk, false},
		{llamaLast, EmptyChunk, true},
		{trtToken, TokenChunk, true},
		{nullError, TokenChunk, false},
		{"[DONE]", DoneChunk, false},
		{"[DONE] ", DoneChunk, false},
		{`{"choices":[{"text":" a"}`, MalformedChunk, false},
		{`{"choices":[{"text":" a"}]} trailing`, MalformedChunk, false},
		{`not json`, MalformedChunk, false},
		{`{"id":"x"}`, MalformedChunk, false},
		{`{"choices":"nope"}`, MalformedChunk, false},
		{`[1,2]`, MalformedChunk, false},
		{`{"choices":[{"text":"\x01"}]}`, MalformedChunk, false},
		{`{"choices":[{"text":"a"}],"n":01}`, MalformedChunk, false},
	} {
		c := Parse([]byte(tc.data))
		assert.Equal(t, tc.want, c.Kind, tc.data)
		assert.Equal(t, tc.usage, c.Usage != nil, "usage of %s", tc.data)
	}
	u, ok, err := ParseUsage(Parse([]byte(vllmUsage)).Usage)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, Usage{PromptTokens: 512, CompletionTokens: 128, CachedTokens: 496}, u)
	n, ok := Parse([]byte(trtToken)).CompletionTokens()
	assert.True(t, ok)
	assert.Equal(t, 3, n)
}

func TestErrorMessage(t *testing.T) {
	assert.Equal(t, "out of memory", ErrorMessage([]byte(vllmError)))
	assert.Equal(t, "boom", ErrorMessage([]byte(openaiError)))
	assert.Equal(t, "plain text", ErrorMessage([]byte("plain text")))
	assert.Equal(t, "Input prompt is too big compared to KV size", ErrorMessage([]byte(`{"code":500,"message":"Input prompt is too big compared to KV size","type":"server_error"}`)))
	long := ErrorMessage([]byte(`{"message":"` + strings.Repeat("x", 1<<20) + `"}`))
	assert.Less(t, len(long), 5<<10, "a megabyte of message is cut")
	assert.Contains(t, long, "more bytes)")
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
		ev, err := s.Next()
		if err != nil {
			return out, err
		}
		require.False(t, ev.At.IsZero(), "event without arrival stamp")
		p := string(ev.Data)
		if ev.Error {
			p = "error:" + p
		}
		out = append(out, p)
	}
}

func TestReader(t *testing.T) {
	in := ": keep-alive comment\r\nevent: message\r\ndata: " + vllmToken + "\r\n\r\ndata:" + vllmLast + "\n\n" + "id: 7\nretry: 10\n" + stream(vllmUsage, "[DONE]")
	got, err := readAll(t, strings.NewReader(in))
	assert.ErrorIs(t, err, io.EOF)
	assert.Equal(t, []string{vllmToken, vllmLast, vllmUsage, "[DONE]"}, got)
}

func TestReaderFraming(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"byte-order mark", "\xef\xbb\xbf" + stream(vllmToken, "[DONE]"), []string{vllmToken, "[DONE]"}},
		{"CR line ends", "data: " + vllmToken + "\r\rdata: [DONE]\r\r", []string{vllmToken, "[DONE]"}},
		{"multi-line data", "data: {\"choices\":\ndata: [{\"text\":\"x\"}]}\n\n", []string{"{\"choices\":\n[{\"text\":\"x\"}]}"}},
		{"llama.cpp error line", "error: {\"code\":500,\"message\":\"too big\"}\n\ndata: [DONE]\n\n", []string{`error:{"code":500,"message":"too big"}`, "[DONE]"}},
		{"event: error", "event: error\ndata: {\"message\":\"x\"}\n\n", []string{`error:{"message":"x"}`}},
		{"no blank line before the end", "data: [DONE]\n", []string{"[DONE]"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readAll(t, strings.NewReader(tc.in))
			assert.ErrorIs(t, err, io.EOF)
			assert.Equal(t, tc.want, got)
		})
	}
}

// TestReaderSplitReads reads the same streams one byte per Read and in reads that end
// anywhere: an event's data line kept in the buffer must survive the reads that move it.
func TestReaderSplitReads(t *testing.T) {
	long := `{"choices":[{"text":"` + strings.Repeat("y", bufSize-40) + `"}]}`
	in := stream(vllmToken, long, long, chatToken) + "data: a\ndata: " + long + "\n\n" + "data: " + vllmToken + "\r\n\r\ndata: [DONE]\n"
	want, err := readAll(t, strings.NewReader(in))
	require.ErrorIs(t, err, io.EOF)
	require.Equal(t, []string{vllmToken, long, long, chatToken, "a\n" + long, vllmToken, "[DONE]"}, want)
	got, err := readAll(t, iotest.OneByteReader(strings.NewReader(in)))
	require.ErrorIs(t, err, io.EOF)
	assert.Equal(t, want, got, "one byte per read")
	for _, size := range []int{7, 100, 257, bufSize - 1, bufSize + 3} {
		got, err := readAll(t, &sizedReader{s: in, n: size})
		require.ErrorIs(t, err, io.EOF)
		assert.Equal(t, want, got, "reads of %d bytes", size)
	}
}

// sizedReader returns at most n bytes per Read.
type sizedReader struct {
	s string
	n int
}

func (r *sizedReader) Read(p []byte) (int, error) {
	if r.s == "" {
		return 0, io.EOF
	}
	k := copy(p[:min(len(p), r.n)], r.s)
	r.s = r.s[k:]
	return k, nil
}

func TestReaderLongLine(t *testing.T) {
	long := `{"choices":[{"text":"` + strings.Repeat("x", 3*bufSize) + `"}]}`
	got, err := readAll(t, strings.NewReader(stream(long, vllmToken)))
	assert.ErrorIs(t, err, io.EOF)
	require.Len(t, got, 2)
	assert.Equal(t, long, got[0])
	assert.Equal(t, vllmToken, got[1])
}

func TestReaderTooLong(t *testing.T) {
	_, err := readAll(t, strings.NewReader("data: "+strings.Repeat("x", MaxLine+10)))
	assert.ErrorIs(t, err, ErrLineTooLong)
	_, err = readAll(t, strings.NewReader(strings.Repeat("data: "+strings.Repeat("x", 1000)+"\n", 2000)))
	assert.ErrorIs(t, err, ErrLineTooLong, "an event's data lines are bounded together")
}

func TestReaderCutMidLine(t *testing.T) {
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

// TestNoAllocPerToken checks the hot path: reading and classifying a token event allocates
// nothing.
func TestNoAllocPerToken(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race; go test without -race checks them")
	}
	for _, tok := range []string{vllmToken, trtToken} {
		ev := []byte("data: " + tok + "\n\n")
		events := make([][]byte, 1000)
		for i := range events {
			events[i] = ev
		}
		s := NewReader(&chunkedReader{events: events})
		allocs := testing.AllocsPerRun(500, func() {
			e, err := s.Next()
			if err != nil || Parse(e.Data).Kind != TokenChunk {
				t.Fatalf("unexpected event %q %v", e.Data, err)
			}
			if c := Parse(e.Data); c.Usage != nil {
				if _, ok := c.CompletionTokens(); !ok {
					t.Fatal("no completion_tokens")
				}
			}
		})
		assert.Zero(t, allocs, "allocations per token event")
	}
}

func BenchmarkToken(b *testing.B) {
	for _, tc := range []struct{ name, tok string }{{"vllm", vllmToken}, {"chat", chatToken}, {"usage-every-chunk", trtToken}} {
		b.Run(tc.name, func(b *testing.B) {
			ev := []byte("data: " + tc.tok + "\n\n")
			var buf bytes.Buffer
			for range 4096 {
				buf.Write(ev)
			}
			data := buf.Bytes()
			r := bytes.NewReader(data)
			s := NewReader(r)
			b.ReportAllocs()
			b.SetBytes(int64(len(ev)))
			for b.Loop() {
				e, err := s.Next()
				if errors.Is(err, io.EOF) {
					r.Reset(data)
					s.Reset(r)
					e, err = s.Next()
				}
				if err != nil || Parse(e.Data).Kind != TokenChunk {
					b.Fatal(err)
				}
			}
		})
	}
}

// FuzzSSE feeds arbitrary bytes to the reader and the parser: they must never panic or
// loop, every data byte comes from the input, and the one-pass parser agrees with
// encoding/json on what is valid.
func FuzzSSE(f *testing.F) {
	f.Add([]byte(stream(vllmToken, vllmUsage, "[DONE]")))
	f.Add([]byte(stream(chatRole, chatToken, chatNull, "[DONE]")))
	f.Add([]byte(stream(vllmError, llamaLast, trtToken, nullError)))
	f.Add([]byte(": c\r\ndata:{\"choices\":[{\"text\":\"\\\"\"}]}\r\n\r\n"))
	f.Add([]byte("data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]"))
	f.Add([]byte("\xef\xbb\xbfdata: [DONE] \r\rerror: {\"message\":1}\n\ndata: a\ndata: b\n\n"))
	f.Add([]byte("data: {\"choices\":[{\"text\":\"\\ud83d\\ude00\"}],\"usage\":{\"completion_tokens\":-1e5}}\n\n"))
	f.Add([]byte("data: " + strings.Repeat("x", bufSize+5) + "\ndata: y\n\ndata: z\r\n\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		// Read one byte at a time, the same events must come (data kept across reads).
		whole, wholeErr := events(NewReader(bytes.NewReader(in)), len(in)+2)
		split, splitErr := events(NewReader(iotest.OneByteReader(bytes.NewReader(in))), len(in)+2)
		if !slices.Equal(whole, split) || !errors.Is(splitErr, wholeErr) && !errors.Is(wholeErr, splitErr) {
			t.Fatalf("read whole: %q %v; one byte at a time: %q %v", whole, wholeErr, split, splitErr)
		}
		s := NewReader(bytes.NewReader(in))
		for range len(in) + 2 {
			ev, err := s.Next()
			if err != nil {
				return
			}
			for _, part := range bytes.Split(ev.Data, []byte{'\n'}) {
				if !bytes.Contains(in, part) {
					t.Fatalf("data %q not in input", part)
				}
			}
			c := Parse(ev.Data)
			trimmed := bytes.TrimSpace(ev.Data)
			valid := json.Valid(trimmed) && len(trimmed) > 0 && trimmed[0] == '{'
			if c.Kind != MalformedChunk && c.Kind != DoneChunk && !valid {
				t.Fatalf("kind %d for invalid JSON %q", c.Kind, ev.Data)
			}
			if valid && c.Kind == MalformedChunk {
				if _, ok := refField(trimmed, "choices"); ok {
					if v, _ := refField(trimmed, "choices"); len(v) > 0 && v[0] == '[' {
						if fe, ok := firstElem(v); ok && len(fe) > 0 && fe[0] == '{' {
							if _, ok := refField(fe, "text"); ok {
								t.Fatalf("valid completion chunk called malformed: %q", ev.Data)
							}
						}
					}
				}
			}
			if c.Usage != nil {
				_, _, _ = ParseUsage(c.Usage)
			}
		}
		t.Fatal("reader did not finish")
	})
}

// events reads at most n events, each as "error:" (when an error event) and its data, and
// the error that ended them.
func events(s *Reader, n int) ([]string, error) {
	var out []string
	for range n {
		ev, err := s.Next()
		if err != nil {
			return out, err
		}
		p := string(ev.Data)
		if ev.Error {
			p = "error:" + p
		}
		out = append(out, p)
	}
	return out, errors.New("too many events")
}

// firstElem returns the first element of a JSON array (test helper).
func firstElem(arr []byte) ([]byte, bool) {
	i := refSkipSpace(arr, 1)
	if i >= len(arr) || arr[i] == ']' {
		return nil, false
	}
	end := refScanValue(arr, i, 1)
	if end < 0 {
		return nil, false
	}
	return arr[i:end], true
}

// FuzzParse checks the one-pass parser against the parser it replaced (reference_test.go),
// which walked each chunk with a generic object iterator and read the choices a second
// time: the same kind, the same usage and the same completion count on every input.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		vllmToken, vllmLast, vllmUsage, chatRole, chatToken, chatNull, vllmError, openaiError,
		trickyToken, escapedEmpty, llamaLast, trtToken, nullError, "[DONE]", " [DONE]\n",
		// What the single pass decides on its way, each a seed of its own.
		`{"choices":[{"text":"a"}],"choices":"no"}`,                               // the last choices decides
		`{"choices":"no","choices":[{"text":"a"}]}`,                               // likewise
		`{"choices":[{"delta":{"content":"x"},"text":""}]}`,                       // the first of text and delta decides
		`{"choices":[{"delta":"x"}]}`,                                             // a delta that is no object
		`{"choices":[{"delta":{"role":"assistant"}}]}`,                            // a delta without content
		`{"choices":[{"delta":{"content":"","content":"x"}}]}`,                    // the first content decides
		`{"choices":[{"index":0}]}`,                                               // neither text nor delta
		`{"choices":[1,{"text":"a"}]}`,                                            // a first choice that is no object
		`{"choices":[{"text":"a"},{"text":`,                                       // cut in a later choice
		`{"choices":[{"text":"a"}],"usage":{"completion_tokens":3},"usage":null}`, // the last non-null usage
		`{"usage":{"completion_tokens":3,"completion_tokens":"4"}}`,               // the last count decides
		`{"usage":{"completion_tokens":-1}}`, `{"usage":{"completion_tokens":1e3}}`, `{"usage":5}`,
		`{"usage":{"completion_tokens":99999999999999}}`,
		`{"error":null,"object":"error"}`, `{"object":"err\u006fr"}`,
		"{ \"choices\" : [ { \"text\" : \" a\" } ] , \"usage\" : null }",
		`{"choices":[{"text":"\ud83d\ude00\n\t\\\/"}]}`, `{"choices":[{"text":"\u12"}]}`, `{"choices":[{"text":"\q"}]}`,
		`{"a":` + strings.Repeat("[", 300) + strings.Repeat("]", 300) + `}`,
		`{"choices":[{"text":"a","x":` + strings.Repeat("{\"a\":", 253) + "1" + strings.Repeat("}", 253) + `}]}`,
		`{"choices":[{"text":"a","x":` + strings.Repeat("{\"a\":", 254) + "1" + strings.Repeat("}", 254) + `}]}`,
		`{"choices":[{"text":"a"}],}`, `{,"choices":[]}`, `{"choices":[],"usage":{}} x`, `{"choices":[` + "\x00",
		vllmReasoning, sglangReasoning, toolStart, toolArgs, refusalToken, mixedToken, llamaTimed,
		`{"id":"a","id":5,"choices":[],"timings":{"prompt_ms":1},"timings":[` + "\x00",
		`{"choices":[{"delta":{"reasoning":"","reasoning":"x"}}]}`,                                   // the first reasoning decides
		`{"choices":[{"delta":{"tool_calls":[{"function":{"arguments":"","arguments":"x"}}]}}]}`,     // the first arguments decides
		`{"choices":[{"delta":{"tool_calls":[{"function":"f","function":{"arguments":"x"}}]}}]}`,     // the first function decides
		`{"choices":[{"delta":{"tool_calls":[1,{"function":{"arguments":"{"}},[]]}}]}`,               // a later call carries arguments
		`{"choices":[{"delta":{"tool_calls":{"function":{"arguments":"x"}}}}]}`,                      // tool_calls that is no array
		`{"choices":[{"delta":{"tool_calls":[{"function":{"arguments":{"a":1}}}],"content":null}}]}`, // arguments that are no string
		`{"choices":[{"delta":{"refusal":"no","reasoning_content":"hm"}}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		got, want := Parse(in), refParse(in)
		if got.Kind != want.Kind || !bytes.Equal(got.Usage, want.Usage) || (got.Usage == nil) != (want.Usage == nil) {
			t.Fatalf("Parse(%q) = kind %d usage %q, the reference says kind %d usage %q", in, got.Kind, got.Usage, want.Kind, want.Usage)
		}
		if got.Kind == TokenChunk && got.Token != want.Token {
			t.Fatalf("Parse(%q) carries %v, the reference says %v", in, got.Token, want.Token)
		}
		n, ok := got.CompletionTokens()
		wn, wok := refCompletionTokens(want.Usage)
		if n != wn || ok != wok {
			t.Fatalf("Parse(%q).CompletionTokens() = %d %v, the reference says %d %v", in, n, ok, wn, wok)
		}
	})
}

// BenchmarkParse is the classifier alone on the chunks of common servers, beside the
// parser it replaced (reference_test.go).
//
//	go test -run '^$' -bench BenchmarkParse -benchmem ./perftest/internal/sse
func BenchmarkParse(b *testing.B) {
	for _, tc := range []struct{ name, tok string }{{"vllm", vllmToken}, {"chat", chatToken}, {"usage-every-chunk", trtToken}} {
		for _, p := range []struct {
			name  string
			parse func([]byte) Chunk
		}{{"one-pass", Parse}, {"reference", refParse}} {
			b.Run(tc.name+"/"+p.name, func(b *testing.B) {
				data := []byte(tc.tok)
				b.ReportAllocs()
				b.SetBytes(int64(len(data)))
				for b.Loop() {
					if p.parse(data).Kind != TokenChunk {
						b.Fatal("not a token")
					}
				}
			})
		}
	}
}

// TestNextSpecial puts every byte value at every position of a 20-byte run of plain bytes
// (with plain bytes of every kind before it): the first quote, backslash or control
// character is found exactly, eight bytes at a time or one by one.
func TestNextSpecial(t *testing.T) {
	for _, fill := range []byte{'a', 0x20, 0x7f, 0x80, 0xff, '#', ']', 0x21, 0x5b, 0x5d} {
		for pos := range 20 {
			for c := range 256 {
				b := bytes.Repeat([]byte{fill}, 20)
				b[pos] = byte(c)
				want := 20
				for i, x := range b {
					if !plain[x] {
						want = i
						break
					}
				}
				if got := nextSpecial(b, 0); got != want {
					t.Fatalf("nextSpecial(%q) = %d, want %d", b, got, want)
				}
			}
		}
	}
}

package sse

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// Kind classifies one streamed chunk.
type Kind uint8

// Kinds of chunk.
const (
	TokenChunk     Kind = iota // carries generated text
	EmptyChunk                 // a choice without text (role-only delta, held-back bytes)
	UsageChunk                 // no choice, or "choices": []: the include_usage summary
	DoneChunk                  // data: [DONE]
	ErrorChunk                 // an error object sent inside the stream
	MalformedChunk             // not a JSON object, or not shaped like a completion chunk
)

// Chunk is what the client needs of one streamed chunk.
type Chunk struct {
	Kind Kind
	// Usage is the raw "usage" object when the chunk carries one that is not null, beside
	// choices or not (llama.cpp puts it beside the last text, TensorRT-LLM on every chunk).
	// It is a view into the data passed to Parse.
	Usage []byte
}

var (
	doneMarker = []byte("[DONE]")
	nullValue  = []byte("null")
)

// Parse classifies a chunk's data and finds its usage in one pass over the bytes, which it
// validates as JSON on the way, without allocating: the cost of the token chunks that make
// up almost all of a stream. Whitespace around the data is ignored ("[DONE] " is [DONE]).
func Parse(data []byte) Chunk {
	data = bytes.TrimSpace(data)
	if bytes.Equal(data, doneMarker) {
		return Chunk{Kind: DoneChunk}
	}
	if len(data) == 0 || data[0] != '{' {
		return Chunk{Kind: MalformedChunk}
	}
	var choices, usage field
	isError := false
	it := newObjectIter(data, 0, 1)
	for {
		f, ok := it.next()
		if !ok {
			break
		}
		v := data[f.start:f.end]
		switch string(f.key) {
		case "choices":
			choices = f
		case "usage":
			if !bytes.Equal(v, nullValue) {
				usage = f
			}
		case "error":
			isError = isError || !bytes.Equal(v, nullValue) // "error": null is no error
		case "object":
			isError = isError || string(v) == `"error"`
		}
	}
	if it.bad || it.i != len(data) {
		return Chunk{Kind: MalformedChunk}
	}
	c := Chunk{Kind: MalformedChunk}
	if usage.end > 0 {
		c.Usage = data[usage.start:usage.end]
	}
	switch {
	case isError:
		c.Kind = ErrorChunk
	case choices.end == 0 || data[choices.start] != '[':
		if c.Usage != nil {
			c.Kind = UsageChunk
		}
	default:
		c.Kind = choiceKind(data, choices.start)
	}
	return c
}

// choiceKind reads the first element of a (valid) choices array.
func choiceKind(data []byte, start int) Kind {
	i := skipSpace(data, start+1)
	if data[i] == ']' {
		return UsageChunk // "choices": []
	}
	if data[i] != '{' {
		return MalformedChunk
	}
	it := newObjectIter(data, i, 2)
	for {
		f, ok := it.next()
		if !ok {
			return MalformedChunk
		}
		switch string(f.key) {
		case "text":
			return textKind(data[f.start:f.end])
		case "delta":
			if data[f.start] != '{' {
				return EmptyChunk
			}
			d := newObjectIter(data, f.start, 3)
			for {
				g, ok := d.next()
				if !ok {
					return EmptyChunk
				}
				if string(g.key) == "content" {
					return textKind(data[g.start:g.end])
				}
			}
		}
	}
}

// textKind says whether a raw JSON value is a non-empty string.
func textKind(v []byte) Kind {
	if len(v) > 2 && v[0] == '"' {
		return TokenChunk
	}
	return EmptyChunk
}

// Field returns the raw value of a top-level member of a JSON object: the last one of that
// name, as encoding/json reads duplicates.
func Field(obj []byte, key string) (v []byte, ok bool) {
	i := skipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return nil, false
	}
	it := newObjectIter(obj, i, 1)
	for {
		f, more := it.next()
		if !more {
			return v, ok
		}
		if string(f.key) == key {
			v, ok = obj[f.start:f.end], true
		}
	}
}

// Usage is the token counts of a chunk's "usage" object.
type Usage struct {
	PromptTokens, CompletionTokens, CachedTokens int
}

// ParseUsage decodes a raw "usage" object (Chunk.Usage), once per request rather than per
// token. ok is false when it is not one.
func ParseUsage(raw []byte) (u Usage, ok bool) {
	var w struct {
		PromptTokens        *int `json:"prompt_tokens"`
		CompletionTokens    *int `json:"completion_tokens"`
		PromptTokensDetails *struct {
			CachedTokens int `json:"cached_tokens"`
		} `json:"prompt_tokens_details"`
	}
	if err := json.Unmarshal(raw, &w); err != nil || w.PromptTokens == nil && w.CompletionTokens == nil {
		return Usage{}, false
	}
	if w.PromptTokens != nil {
		u.PromptTokens = *w.PromptTokens
	}
	if w.CompletionTokens != nil {
		u.CompletionTokens = *w.CompletionTokens
	}
	if d := w.PromptTokensDetails; d != nil {
		u.CachedTokens = d.CachedTokens
	}
	return u, true
}

// CompletionTokens reads completion_tokens from a raw usage object without allocating, for
// servers that send usage on every chunk (continuous usage stats): the count tells how many
// tokens a chunk carried. ok is false when it has none.
func CompletionTokens(raw []byte) (n int, ok bool) {
	v, ok := Field(raw, "completion_tokens")
	if !ok || len(v) == 0 {
		return 0, false
	}
	for _, c := range v {
		if !isDigit(c) {
			return 0, false
		}
		n = n*10 + int(c-'0')
		if n > 1<<40 {
			return 0, false
		}
	}
	return n, true
}

// maxMessage bounds the server messages kept from an error body or chunk.
const maxMessage = 4 << 10

// ErrorMessage is the server's message in an error body or chunk (OpenAI's
// {"error": {"message": ...}}, vLLM's {"object": "error", "message": ...}, llama.cpp's
// {"code": ..., "message": ...}), or the data itself, cut to 4 KiB.
func ErrorMessage(data []byte) string {
	var e struct {
		Message string          `json:"message"`
		Error   json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(data, &e); err != nil {
		return clip(string(data))
	}
	if e.Message != "" {
		return clip(e.Message)
	}
	var inner struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(e.Error, &inner) == nil && inner.Message != "" {
		return clip(inner.Message)
	}
	if len(e.Error) > 0 {
		return clip(string(e.Error))
	}
	return clip(fmt.Sprintf("error chunk: %s", data))
}

// clip cuts s to maxMessage bytes, at a rune boundary, saying how much was left out.
func clip(s string) string {
	if len(s) <= maxMessage {
		return s
	}
	cut := maxMessage
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s... (%d more bytes)", s[:cut], len(s)-cut)
}

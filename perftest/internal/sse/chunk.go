package sse

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Kind classifies one streamed chunk.
type Kind uint8

// Kinds of chunk.
const (
	TokenChunk     Kind = iota // carries generated text
	EmptyChunk                 // a choice without text (role-only delta, held-back bytes)
	UsageChunk                 // "choices": [] with usage: the include_usage summary
	DoneChunk                  // data: [DONE]
	ErrorChunk                 // an error object sent inside the stream
	MalformedChunk             // not a JSON object, or not shaped like a completion chunk
)

var doneMarker = []byte("[DONE]")

// Classify looks at a chunk without decoding it into Go values, so that it does not
// allocate for the token chunks that make up almost all of a stream. It checks the chunk is
// valid JSON, then reads the top-level keys it needs in one pass.
func Classify(data []byte) Kind {
	if bytes.Equal(data, doneMarker) {
		return DoneChunk
	}
	if !json.Valid(data) {
		return MalformedChunk
	}
	var choices []byte
	var hasUsage bool
	for k, v := range topLevel(data) {
		switch string(k) {
		case "error":
			return ErrorChunk
		case "object":
			if bytes.Equal(v, []byte(`"error"`)) {
				return ErrorChunk
			}
		case "choices":
			choices = v
		case "usage":
			hasUsage = true
		}
	}
	if len(choices) == 0 || choices[0] != '[' {
		if hasUsage {
			return UsageChunk
		}
		return MalformedChunk
	}
	first, ok := firstElement(choices)
	if !ok {
		return UsageChunk // "choices": []
	}
	for k, v := range topLevel(first) {
		switch string(k) {
		case "text":
			return textKind(v)
		case "delta":
			if content, ok := Field(v, "content"); ok {
				return textKind(content)
			}
			return EmptyChunk
		}
	}
	return MalformedChunk
}

// textKind says whether a raw JSON value is a non-empty string.
func textKind(v []byte) Kind {
	if len(v) > 2 && v[0] == '"' {
		return TokenChunk
	}
	return EmptyChunk
}

// Usage is the token counts of a chunk's "usage" object.
type Usage struct {
	PromptTokens, CompletionTokens, CachedTokens int
}

// ParseUsage decodes the "usage" object of a chunk (decoded once per request, not per
// token). ok is false when the chunk carries none.
func ParseUsage(data []byte) (u Usage, ok bool) {
	var c struct {
		Usage *struct {
			PromptTokens        int `json:"prompt_tokens"`
			CompletionTokens    int `json:"completion_tokens"`
			PromptTokensDetails *struct {
				CachedTokens int `json:"cached_tokens"`
			} `json:"prompt_tokens_details"`
		} `json:"usage"`
	}
	if err := json.Unmarshal(data, &c); err != nil || c.Usage == nil {
		return Usage{}, false
	}
	u = Usage{PromptTokens: c.Usage.PromptTokens, CompletionTokens: c.Usage.CompletionTokens}
	if d := c.Usage.PromptTokensDetails; d != nil {
		u.CachedTokens = d.CachedTokens
	}
	return u, true
}

// errorChunk covers both OpenAI's {"error": {...}} and vLLM's {"object": "error", ...}.
type errorChunk struct {
	Message string          `json:"message"`
	Error   json.RawMessage `json:"error"`
}

// ErrorMessage is the server's message in an error body or chunk, or the data itself.
func ErrorMessage(data []byte) string {
	var e errorChunk
	if err := json.Unmarshal(data, &e); err != nil {
		return string(data)
	}
	if e.Message != "" {
		return e.Message
	}
	var inner struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(e.Error, &inner) == nil && inner.Message != "" {
		return inner.Message
	}
	if len(e.Error) > 0 {
		return string(e.Error)
	}
	return fmt.Sprintf("error chunk: %s", data)
}

// topLevel iterates over the keys and raw values of a JSON object's top level. The input
// must be valid JSON (checked by the caller); keys are not unescaped.
func topLevel(obj []byte) func(yield func(key, val []byte) bool) {
	return func(yield func(key, val []byte) bool) {
		i := skipSpace(obj, 0)
		if i >= len(obj) || obj[i] != '{' {
			return
		}
		i++
		for {
			i = skipSpace(obj, i)
			if i >= len(obj) || obj[i] != '"' {
				return // '}' or malformed
			}
			kEnd := skipString(obj, i)
			k := obj[i+1 : kEnd-1]
			i = skipSpace(obj, kEnd)
			if i >= len(obj) || obj[i] != ':' {
				return
			}
			i = skipSpace(obj, i+1)
			vEnd := skipValue(obj, i)
			if !yield(k, obj[i:vEnd]) {
				return
			}
			i = skipSpace(obj, vEnd)
			if i >= len(obj) || obj[i] != ',' {
				return
			}
			i++
		}
	}
}

// Field returns the raw value of a top-level key of a JSON object.
func Field(obj []byte, key string) ([]byte, bool) {
	for k, v := range topLevel(obj) {
		if string(k) == key {
			return v, true
		}
	}
	return nil, false
}

// firstElement returns the first element of a JSON array.
func firstElement(arr []byte) ([]byte, bool) {
	i := skipSpace(arr, 1)
	if i >= len(arr) || arr[i] == ']' {
		return nil, false
	}
	return arr[i:skipValue(arr, i)], true
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index just past the string starting at b[i] == '"'.
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}

// skipValue returns the index just past the JSON value starting at b[i].
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = skipString(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return len(b)
	default:
		for ; i < len(b); i++ {
			switch b[i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return i
			}
		}
		return len(b)
	}
}

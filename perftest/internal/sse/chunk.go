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
	// Token is what a TokenChunk carries: answer text, reasoning, tool-call arguments or a
	// refusal.
	Token Token
	// Usage is the raw "usage" object when the chunk carries one that is not null, beside
	// choices or not (llama.cpp puts it beside the last text, TensorRT-LLM on every chunk).
	// It is a view into the data passed to Parse.
	Usage []byte
	// ID is the chunk's "id" string, without quotes (escapes kept): the id the server gave
	// the request ("chatcmpl-42"), nil when the chunk has none. A view into the data.
	ID []byte
	// Timings is the raw "timings" object llama.cpp's server puts on its last chunk (see
	// ParseTimings), nil when the chunk has none. A view into the data.
	Timings []byte
	// completion is the usage's completion_tokens, when hasCompletion.
	completion    int
	hasCompletion bool
}

// CompletionTokens is the completion_tokens of the chunk's usage, for servers that send
// usage on every chunk (continuous usage stats): the count tells how many tokens a chunk
// carried. ok is false when the usage has none, or none that is a count.
func (c Chunk) CompletionTokens() (n int, ok bool) { return c.completion, c.hasCompletion }

var (
	doneMarker = []byte("[DONE]")
	nullValue  = []byte("null")
)

// Parse classifies a chunk's data and reads its usage, id and timings in one pass over the bytes, which it
// validates as JSON on the way (it accepts what encoding/json accepts), without allocating:
// the cost of the token chunks that make up almost all of a stream. Whitespace around the
// data is ignored ("[DONE] " is [DONE]).
//
// Kinds: an object with a non-null "error" member, or "object": "error", is an ErrorChunk;
// otherwise the last "choices" decides: an array whose first element is an object is a
// TokenChunk when that element's first "text" or "delta" member carries a token (see
// below), an EmptyChunk when it carries none, and malformed when it has neither;
// "choices": [] is a UsageChunk; no choices array is a UsageChunk when a non-null usage
// came, else malformed. Duplicate keys are read as above: the last "choices", the last
// non-null "usage", and in it the last "completion_tokens".
//
// What a choice carries: "text" (completions) is answer text when it is a non-empty string.
// A chat "delta" carries answer text in "content", reasoning in "reasoning" (vLLM) or
// "reasoning_content" (SGLang, llama.cpp, TensorRT-LLM, DeepSeek), a refusal in "refusal",
// and tool-call arguments in "tool_calls"[i]."function"."arguments", each counted when it is
// a non-empty string (the first member of each name decides). A tool call's first delta,
// which names the function with empty arguments, starts the call and carries no token. A
// delta carrying several kinds at once (the end of reasoning and the start of the answer)
// is answer text, then a tool call, then a refusal, then reasoning, in that order.
func Parse(data []byte) Chunk {
	data = bytes.TrimSpace(data)
	if bytes.Equal(data, doneMarker) {
		return Chunk{Kind: DoneChunk}
	}
	bad := Chunk{Kind: MalformedChunk}
	if len(data) == 0 || data[0] != '{' {
		return bad
	}
	var c Chunk
	choices := MalformedChunk // the kind the last "choices" array says
	hasChoices, isError := false, false
	i, more := openObject(data, 0)
	for more {
		key, v := memberKey(data, i)
		if v < 0 {
			return bad
		}
		end := -1
		switch string(key) {
		case "choices":
			if hasChoices = v < len(data) && data[v] == '['; hasChoices {
				end, choices, c.Token = scanChoices(data, v)
			} else {
				end = scanValue(data, v, 1)
			}
		case "usage":
			var n int
			var ok bool
			if end, n, ok = scanUsage(data, v); end >= 0 && !bytes.Equal(data[v:end], nullValue) {
				c.Usage, c.completion, c.hasCompletion = data[v:end], n, ok
			}
		case "error", "object":
			if end = scanValue(data, v, 1); end >= 0 {
				isError = isError || errorMember(key, data[v:end])
			}
		case "id":
			if end = scanValue(data, v, 1); end >= 0 && c.ID == nil && data[v] == '"' {
				c.ID = data[v+1 : end-1]
			}
		case "timings":
			if end = scanValue(data, v, 1); end >= 0 && data[v] == '{' {
				c.Timings = data[v:end]
			}
		default:
			end = scanValue(data, v, 1)
		}
		if end < 0 {
			return bad
		}
		i, more = nextMember(data, end)
	}
	if i != len(data) {
		return bad
	}
	switch {
	case isError:
		c.Kind = ErrorChunk
	case hasChoices:
		c.Kind = choices
	case c.Usage != nil:
		c.Kind = UsageChunk
	default:
		c.Kind = MalformedChunk
	}
	return c
}

// errorMember reports whether a member of an answer says it is an error: a non-null
// "error" ("error": null is no error), or "object": "error" (vLLM's, SGLang's).
func errorMember(key, v []byte) bool {
	switch string(key) {
	case "error":
		return !bytes.Equal(v, nullValue)
	case "object":
		return string(v) == `"error"`
	}
	return false
}

// scanChoices validates the choices array at data[i] == '[' and returns its end and the
// kind its first element says, with the token it carries.
func scanChoices(b []byte, i int) (end int, k Kind, t Token) {
	const depth = 2 // the array's nesting in the chunk
	j := skipSpace(b, i+1)
	if j < len(b) && b[j] == ']' {
		return j + 1, UsageChunk, Answer // "choices": []
	}
	if j < len(b) && b[j] == '{' {
		j, k, t = scanChoice(b, j)
	} else {
		j, k = scanValue(b, j, depth), MalformedChunk
	}
	for j >= 0 {
		if j = skipSpace(b, j); j >= len(b) {
			break
		}
		switch b[j] {
		case ']':
			return j + 1, k, t
		case ',':
			j = scanValue(b, skipSpace(b, j+1), depth)
		default:
			j = -1
		}
	}
	return -1, MalformedChunk, Answer
}

// scanChoice validates the first choice, the object at b[i], and returns its end, kind and
// token.
func scanChoice(b []byte, i int) (end int, k Kind, t Token) {
	const depth = 3
	k = MalformedChunk // neither "text" nor "delta"
	decided := false
	i, more := openObject(b, i)
	for more {
		key, v := memberKey(b, i)
		if v < 0 {
			return -1, k, t
		}
		switch {
		case !decided && string(key) == "text":
			decided = true
			if end = scanValue(b, v, depth); end >= 0 {
				k = textKind(b[v:end])
			}
		case !decided && string(key) == "delta":
			decided = true
			if v < len(b) && b[v] == '{' {
				end, k, t = scanDelta(b, v)
			} else {
				end, k = scanValue(b, v, depth), EmptyChunk
			}
		default:
			end = scanValue(b, v, depth)
		}
		if end < 0 {
			return -1, k, t
		}
		i, more = nextMember(b, end)
	}
	return i, k, t
}

// scanUsage validates the usage value at b[i] and returns its end and, for an object, its
// last completion_tokens when that is a count.
func scanUsage(b []byte, i int) (end, n int, ok bool) {
	const depth = 2
	if i >= len(b) || b[i] != '{' {
		return scanValue(b, i, 1), 0, false
	}
	i, more := openObject(b, i)
	for more {
		key, v := memberKey(b, i)
		if v < 0 {
			return -1, 0, false
		}
		if end = scanValue(b, v, depth); end < 0 {
			return -1, 0, false
		}
		if string(key) == "completion_tokens" {
			n, ok = count(b[v:end])
		}
		i, more = nextMember(b, end)
	}
	return i, n, ok
}

// count reads a JSON number that is a plain count (digits only, at most 2^40).
func count(v []byte) (n int, ok bool) {
	if len(v) == 0 {
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

// textKind says whether a raw JSON value is a non-empty string.
func textKind(v []byte) Kind {
	if len(v) > 2 && v[0] == '"' {
		return TokenChunk
	}
	return EmptyChunk
}

// maxMessage bounds the server messages kept from an error body or chunk.
const maxMessage = 4 << 10

// ErrorMessage is the server's message in an error body or chunk (OpenAI's
// {"error": {"message": ...}}, vLLM's {"object": "error", "message": ...}, llama.cpp's
// {"code": ..., "message": ...}, the Responses API's error and response.failed events), or
// the data itself, cut to 4 KiB.
func ErrorMessage(data []byte) string {
	var e struct {
		Message  string          `json:"message"`
		Error    json.RawMessage `json:"error"`
		Response struct {
			Error struct {
				Message string `json:"message"`
			} `json:"error"`
		} `json:"response"`
	}
	if err := json.Unmarshal(data, &e); err != nil {
		return clip(string(data))
	}
	if e.Message != "" {
		return clip(e.Message)
	}
	if m := e.Response.Error.Message; m != "" {
		return clip(m) // the Responses API's response.failed event
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

package sse

import "bytes"

// Pooled is what the client needs of the answer of a pooling API (embeddings, rerank),
// which is one JSON body, not a stream.
type Pooled struct {
	// Kind is DoneChunk for an answer, ErrorChunk for an error object, MalformedChunk for
	// anything else.
	Kind Kind
	// Results is how many results the answer holds: embeddings in "data", scores in
	// "results" (vLLM's, llama.cpp's rerank) or "data" (vLLM's score), or the elements of a
	// top-level array (SGLang's rerank answers a bare list).
	Results int
	// Usage is the raw "usage" object when the answer has one that is not null, a view into
	// the data passed to ParsePooled.
	Usage []byte
}

// ParsePooled reads a pooling answer in one pass over the bytes, which it validates as
// JSON, without decoding its vectors: an answer of a batch of embeddings is megabytes of
// numbers the client has no use for. An object with a non-null "error" member, or
// "object": "error", is an ErrorChunk; an object without a "data" or "results" array is
// malformed.
func ParsePooled(data []byte) Pooled {
	data = bytes.TrimSpace(data)
	bad := Pooled{Kind: MalformedChunk}
	switch {
	case len(data) > 0 && data[0] == '[':
		n, end := countArray(data, 0, 0)
		if end != len(data) {
			return bad
		}
		return Pooled{Kind: DoneChunk, Results: n}
	case len(data) == 0 || data[0] != '{':
		return bad
	}
	p := Pooled{Kind: MalformedChunk}
	isError := false
	i, more := openObject(data, 0)
	for more {
		key, v := memberKey(data, i)
		if v < 0 {
			return bad
		}
		var end int
		switch k := string(key); {
		case (k == "data" || k == "results") && v < len(data) && data[v] == '[':
			p.Results, end = countArray(data, v, 1)
			p.Kind = DoneChunk
		default:
			if end = scanValue(data, v, 1); end < 0 {
				return bad
			}
			raw := data[v:end]
			if k == "usage" && !bytes.Equal(raw, nullValue) {
				p.Usage = raw
			}
			isError = isError || errorMember(key, raw)
		}
		if end < 0 {
			return bad
		}
		i, more = nextMember(data, end)
	}
	if i != len(data) {
		return bad
	}
	if isError {
		p.Kind = ErrorChunk
	}
	return p
}

// countArray validates the array at b[i] == '[', held depth deep, and returns how many
// elements it has and its end (-1 when it is not valid).
func countArray(b []byte, i, depth int) (n, end int) {
	j := skipSpace(b, i+1)
	if j < len(b) && b[j] == ']' {
		return 0, j + 1
	}
	for {
		if j = scanValue(b, j, depth+1); j < 0 {
			return 0, -1
		}
		n++
		if j = skipSpace(b, j); j >= len(b) {
			return 0, -1
		}
		switch b[j] {
		case ']':
			return n, j + 1
		case ',':
			j = skipSpace(b, j+1)
		default:
			return 0, -1
		}
	}
}

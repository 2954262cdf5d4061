package sse

import "bytes"

// The parser as it was before the fast one-pass walk, kept as the oracle FuzzParse compares
// the fast parser with: the same kinds, the same usage, on every input.

// refParse classifies a chunk's data and finds its usage in one pass over the bytes, which it
// validates as JSON on the way, without allocating: the cost of the token chunks that make
// up almost all of a stream. Whitespace around the data is ignored ("[DONE] " is [DONE]).
func refParse(data []byte) Chunk {
	data = bytes.TrimSpace(data)
	if bytes.Equal(data, doneMarker) {
		return Chunk{Kind: DoneChunk}
	}
	if len(data) == 0 || data[0] != '{' {
		return Chunk{Kind: MalformedChunk}
	}
	var choices, usage refFieldT
	isError := false
	it := refNewObjectIter(data, 0, 1)
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
		c.Kind, c.Token = refChoiceKind(data, choices.start)
	}
	return c
}

// refChoiceKind reads the first element of a (valid) choices array.
func refChoiceKind(data []byte, start int) (Kind, Token) {
	i := refSkipSpace(data, start+1)
	if data[i] == ']' {
		return UsageChunk, Answer // "choices": []
	}
	if data[i] != '{' {
		return MalformedChunk, Answer
	}
	it := refNewObjectIter(data, i, 2)
	for {
		f, ok := it.next()
		if !ok {
			return MalformedChunk, Answer
		}
		switch string(f.key) {
		case "text":
			return refTextKind(data[f.start:f.end]), Answer
		case "delta":
			if data[f.start] != '{' {
				return EmptyChunk, Answer
			}
			return refDeltaKind(data, f.start)
		}
	}
}

// refDeltaKind reads a (valid) chat delta: the first member of each name counts, answer
// text before tool-call arguments before a refusal before reasoning.
func refDeltaKind(data []byte, start int) (Kind, Token) {
	seen := map[string]bool{}
	has := map[Token]bool{}
	d := refNewObjectIter(data, start, 3)
	for {
		g, ok := d.next()
		if !ok {
			break
		}
		key, v := string(g.key), data[g.start:g.end]
		if seen[key] {
			continue
		}
		seen[key] = true
		switch key {
		case "content":
			has[Answer] = has[Answer] || refTextKind(v) == TokenChunk
		case "reasoning", "reasoning_content":
			has[Reasoning] = has[Reasoning] || refTextKind(v) == TokenChunk
		case "refusal":
			has[Refusal] = has[Refusal] || refTextKind(v) == TokenChunk
		case "tool_calls":
			has[ToolCall] = refToolArgs(data, g.start)
		}
	}
	for _, t := range []Token{Answer, ToolCall, Refusal, Reasoning} {
		if has[t] {
			return TokenChunk, t
		}
	}
	return EmptyChunk, Answer
}

// refToolArgs reports whether a (valid) tool_calls value holds a call whose first
// "function" is an object whose first "arguments" is a non-empty string.
func refToolArgs(data []byte, start int) bool {
	if data[start] != '[' {
		return false
	}
	found := false
	for i := refSkipSpace(data, start+1); data[i] != ']'; {
		end := refScanValue(data, i, 4)
		if data[i] == '{' {
			refFirst(data, i, "function", func(f refFieldT) {
				if data[f.start] == '{' {
					refFirst(data, f.start, "arguments", func(a refFieldT) {
						found = found || refTextKind(data[a.start:a.end]) == TokenChunk
					})
				}
			})
		}
		i = refSkipSpace(data, end)
		if data[i] == ',' {
			i = refSkipSpace(data, i+1)
		}
	}
	return found
}

// refFirst calls fn with the first member named key of the (valid) object at data[i].
func refFirst(data []byte, i int, key string, fn func(refFieldT)) {
	it := refNewObjectIter(data, i, 4)
	for {
		f, ok := it.next()
		if !ok {
			return
		}
		if string(f.key) == key {
			fn(f)
			return
		}
	}
}

// refTextKind says whether a raw JSON value is a non-empty string.
func refTextKind(v []byte) Kind {
	if len(v) > 2 && v[0] == '"' {
		return TokenChunk
	}
	return EmptyChunk
}

// refField returns the raw value of a top-level member of a JSON object: the last one of that
// name, as encoding/json reads duplicates.
func refField(obj []byte, key string) (v []byte, ok bool) {
	i := refSkipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return nil, false
	}
	it := refNewObjectIter(obj, i, 1)
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

// refMaxDepth bounds nesting, so that hostile input cannot exhaust the stack.
const refMaxDepth = 256

func refIsSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func refSkipSpace(b []byte, i int) int {
	for i < len(b) && refIsSpace(b[i]) {
		i++
	}
	return i
}

// refScanValue returns the index just past the JSON value starting at b[i], or -1 when it is
// not valid JSON.
func refScanValue(b []byte, i, depth int) int {
	if i >= len(b) {
		return -1
	}
	switch c := b[i]; {
	case c == '"':
		return refScanString(b, i)
	case c == '{':
		return refScanObject(b, i, depth+1)
	case c == '[':
		return refScanArray(b, i, depth+1)
	case c == 't':
		return refScanLiteral(b, i, "true")
	case c == 'f':
		return refScanLiteral(b, i, "false")
	case c == 'n':
		return refScanLiteral(b, i, "null")
	case c == '-' || c >= '0' && c <= '9':
		return refScanNumber(b, i)
	}
	return -1
}

func refScanLiteral(b []byte, i int, lit string) int {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return -1
	}
	return i + len(lit)
}

// refScanString returns the index just past the string starting at b[i] == '"', or -1.
func refScanString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1
		case c < 0x20:
			return -1 // control characters must be escaped
		case c == '\\':
			i++
			if i >= len(b) {
				return -1
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if len(b)-i < 5 || !refIsHex(b[i+1]) || !refIsHex(b[i+2]) || !refIsHex(b[i+3]) || !refIsHex(b[i+4]) {
					return -1
				}
				i += 4
			default:
				return -1
			}
		}
	}
	return -1
}

func refIsHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func refIsDigit(c byte) bool { return c >= '0' && c <= '9' }

// refScanNumber follows JSON's grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func refScanNumber(b []byte, i int) int {
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && refIsDigit(b[i]):
		for i < len(b) && refIsDigit(b[i]) {
			i++
		}
	default:
		return -1
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || !refIsDigit(b[i]) {
			return -1
		}
		for i < len(b) && refIsDigit(b[i]) {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !refIsDigit(b[i]) {
			return -1
		}
		for i < len(b) && refIsDigit(b[i]) {
			i++
		}
	}
	return i
}

func refScanArray(b []byte, i, depth int) int {
	if depth > refMaxDepth {
		return -1
	}
	i = refSkipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1
	}
	for {
		i = refScanValue(b, refSkipSpace(b, i), depth)
		if i < 0 {
			return -1
		}
		i = refSkipSpace(b, i)
		if i >= len(b) {
			return -1
		}
		switch b[i] {
		case ',':
			i++
		case ']':
			return i + 1
		default:
			return -1
		}
	}
}

// refFieldT is one member of an object: the key (without quotes, escapes kept) and the span of
// its value.
type refFieldT struct {
	key        []byte
	start, end int
}

// refObjectIter walks the members of the object starting at b[i] == '{', validating as it
// goes. Call next until it returns false, then check err.
type refObjectIter struct {
	b     []byte
	i     int
	depth int
	first bool
	done  bool
	bad   bool
}

func refNewObjectIter(b []byte, i, depth int) refObjectIter {
	return refObjectIter{b: b, i: i + 1, depth: depth, first: true}
}

// next returns the next member, or false at the end of the object (or on invalid JSON,
// which bad then reports). end is the index just past the object once done.
func (it *refObjectIter) next() (f refFieldT, ok bool) {
	if it.done || it.bad {
		return refFieldT{}, false
	}
	b := it.b
	i := refSkipSpace(b, it.i)
	if i >= len(b) {
		it.bad = true
		return refFieldT{}, false
	}
	if it.first {
		it.first = false
		if b[i] == '}' {
			it.i, it.done = i+1, true
			return refFieldT{}, false
		}
	} else {
		switch b[i] {
		case '}':
			it.i, it.done = i+1, true
			return refFieldT{}, false
		case ',':
			i = refSkipSpace(b, i+1)
		default:
			it.bad = true
			return refFieldT{}, false
		}
	}
	if i >= len(b) || b[i] != '"' {
		it.bad = true
		return refFieldT{}, false
	}
	kEnd := refScanString(b, i)
	if kEnd < 0 {
		it.bad = true
		return refFieldT{}, false
	}
	f.key = b[i+1 : kEnd-1]
	i = refSkipSpace(b, kEnd)
	if i >= len(b) || b[i] != ':' {
		it.bad = true
		return refFieldT{}, false
	}
	f.start = refSkipSpace(b, i+1)
	f.end = refScanValue(b, f.start, it.depth)
	if f.end < 0 {
		it.bad = true
		return refFieldT{}, false
	}
	it.i = f.end
	return f, true
}

func refScanObject(b []byte, i, depth int) int {
	if depth > refMaxDepth {
		return -1
	}
	it := refNewObjectIter(b, i, depth)
	for {
		if _, ok := it.next(); !ok {
			break
		}
	}
	if it.bad {
		return -1
	}
	return it.i
}

// refCompletionTokens reads completion_tokens from a raw usage object.
func refCompletionTokens(raw []byte) (n int, ok bool) {
	v, ok := refField(raw, "completion_tokens")
	if !ok || len(v) == 0 {
		return 0, false
	}
	for _, c := range v {
		if !refIsDigit(c) {
			return 0, false
		}
		n = n*10 + int(c-'0')
		if n > 1<<40 {
			return 0, false
		}
	}
	return n, true
}

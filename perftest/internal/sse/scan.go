package sse

// A validating JSON scanner that reports where each value ends, so that a chunk is checked
// and read in the same pass: no separate json.Valid over the bytes, no allocation.

// maxDepth bounds nesting, so that hostile input cannot exhaust the stack.
const maxDepth = 256

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// scanValue returns the index just past the JSON value starting at b[i], or -1 when it is
// not valid JSON.
func scanValue(b []byte, i, depth int) int {
	if i >= len(b) {
		return -1
	}
	switch c := b[i]; {
	case c == '"':
		return scanString(b, i)
	case c == '{':
		return scanObject(b, i, depth+1)
	case c == '[':
		return scanArray(b, i, depth+1)
	case c == 't':
		return scanLiteral(b, i, "true")
	case c == 'f':
		return scanLiteral(b, i, "false")
	case c == 'n':
		return scanLiteral(b, i, "null")
	case c == '-' || c >= '0' && c <= '9':
		return scanNumber(b, i)
	}
	return -1
}

func scanLiteral(b []byte, i int, lit string) int {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return -1
	}
	return i + len(lit)
}

// scanString returns the index just past the string starting at b[i] == '"', or -1.
func scanString(b []byte, i int) int {
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
				if len(b)-i < 5 || !isHex(b[i+1]) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) {
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

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// scanNumber follows JSON's grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func scanNumber(b []byte, i int) int {
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && isDigit(b[i]):
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	default:
		return -1
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || !isDigit(b[i]) {
			return -1
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return -1
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	return i
}

func scanArray(b []byte, i, depth int) int {
	if depth > maxDepth {
		return -1
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1
	}
	for {
		i = scanValue(b, skipSpace(b, i), depth)
		if i < 0 {
			return -1
		}
		i = skipSpace(b, i)
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

// field is one member of an object: the key (without quotes, escapes kept) and the span of
// its value.
type field struct {
	key        []byte
	start, end int
}

// objectIter walks the members of the object starting at b[i] == '{', validating as it
// goes. Call next until it returns false, then check err.
type objectIter struct {
	b     []byte
	i     int
	depth int
	first bool
	done  bool
	bad   bool
}

func newObjectIter(b []byte, i, depth int) objectIter {
	return objectIter{b: b, i: i + 1, depth: depth, first: true}
}

// next returns the next member, or false at the end of the object (or on invalid JSON,
// which bad then reports). end is the index just past the object once done.
func (it *objectIter) next() (f field, ok bool) {
	if it.done || it.bad {
		return field{}, false
	}
	b := it.b
	i := skipSpace(b, it.i)
	if i >= len(b) {
		it.bad = true
		return field{}, false
	}
	if it.first {
		it.first = false
		if b[i] == '}' {
			it.i, it.done = i+1, true
			return field{}, false
		}
	} else {
		switch b[i] {
		case '}':
			it.i, it.done = i+1, true
			return field{}, false
		case ',':
			i = skipSpace(b, i+1)
		default:
			it.bad = true
			return field{}, false
		}
	}
	if i >= len(b) || b[i] != '"' {
		it.bad = true
		return field{}, false
	}
	kEnd := scanString(b, i)
	if kEnd < 0 {
		it.bad = true
		return field{}, false
	}
	f.key = b[i+1 : kEnd-1]
	i = skipSpace(b, kEnd)
	if i >= len(b) || b[i] != ':' {
		it.bad = true
		return field{}, false
	}
	f.start = skipSpace(b, i+1)
	f.end = scanValue(b, f.start, it.depth)
	if f.end < 0 {
		it.bad = true
		return field{}, false
	}
	it.i = f.end
	return f, true
}

func scanObject(b []byte, i, depth int) int {
	if depth > maxDepth {
		return -1
	}
	it := newObjectIter(b, i, depth)
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

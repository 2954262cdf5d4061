package sse

import (
	"encoding/binary"
	"math/bits"
)

// A validating JSON scanner that reports where each value ends, so that a chunk is checked
// and read in the same pass: no separate json.Valid over the bytes, no allocation. It
// accepts exactly what encoding/json's Valid accepts, nested at most maxDepth deep.

// maxDepth bounds nesting, so that hostile input cannot exhaust the stack.
const maxDepth = 256

// plain marks the bytes that stand for themselves inside a JSON string: all but the quote,
// the backslash and the control characters.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && b[i] <= ' ' && isSpace(b[i]) {
		i++
	}
	return i
}

// scanValue returns the index just past the JSON value starting at b[i], or -1 when it is
// not valid JSON. depth is the nesting of the object or array that holds the value.
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
	i++
	for {
		if i = nextSpecial(b, i); i >= len(b) {
			return -1
		}
		switch b[i] {
		case '"':
			return i + 1
		case '\\':
			if i+1 >= len(b) {
				return -1
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if len(b)-i < 6 || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) || !isHex(b[i+5]) {
					return -1
				}
				i += 6
			default:
				return -1
			}
		default:
			return -1 // control characters must be escaped
		}
	}
}

// nextSpecial returns the index of the first quote, backslash or control character at or
// after b[i], or len(b): eight bytes at a time, then byte by byte for the last few.
func nextSpecial(b []byte, i int) int {
	for ; i+8 <= len(b); i += 8 {
		if m := special(binary.LittleEndian.Uint64(b[i:])); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	for i < len(b) && plain[b[i]] {
		i++
	}
	return i
}

// special marks, in the high bit of each byte, the bytes of x that are a quote, a
// backslash or a control character: the zero-byte and less-than tests of "Bit Twiddling
// Hacks". A borrow can mark bytes above a marked one, so only the lowest mark is exact,
// which is the one nextSpecial reads.
func special(x uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	quote, backslash := x^(ones*'"'), x^(ones*'\\')
	return ((x-ones*0x20)&^x | (quote-ones)&^quote | (backslash-ones)&^backslash) & highs
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

// scanArray returns the index just past the array starting at b[i] == '[', which is
// nested depth deep, or -1.
func scanArray(b []byte, i, depth int) int {
	if depth > maxDepth {
		return -1
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1
	}
	for {
		if i = scanValue(b, i, depth); i < 0 {
			return -1
		}
		i = skipSpace(b, i)
		if i >= len(b) {
			return -1
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case ']':
			return i + 1
		default:
			return -1
		}
	}
}

// scanObject returns the index just past the object starting at b[i] == '{', which is
// nested depth deep, or -1.
func scanObject(b []byte, i, depth int) int {
	if depth > maxDepth {
		return -1
	}
	i, more := openObject(b, i)
	for more {
		_, v := memberKey(b, i)
		if v < 0 {
			return -1
		}
		if i = scanValue(b, v, depth); i < 0 {
			return -1
		}
		i, more = nextMember(b, i)
	}
	return i
}

// openObject starts the object at b[i] == '{': it returns the index of its first member
// and true, or the index just past an empty object and false.
func openObject(b []byte, i int) (int, bool) {
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, false
	}
	return i, true
}

// memberKey reads `"key":` at b[i] and returns the key (without quotes, escapes kept) and
// the index of the value, or v -1 when it is not a member.
func memberKey(b []byte, i int) (key []byte, v int) {
	if i >= len(b) || b[i] != '"' {
		return nil, -1
	}
	end := scanString(b, i)
	if end < 0 {
		return nil, -1
	}
	j := skipSpace(b, end)
	if j >= len(b) || b[j] != ':' {
		return nil, -1
	}
	return b[i+1 : end-1], skipSpace(b, j+1)
}

// nextMember follows a member's value that ends at b[i]: it returns the index of the next
// member and true, or the index just past the object and false, or -1 and false when
// neither follows.
func nextMember(b []byte, i int) (int, bool) {
	i = skipSpace(b, i)
	if i < len(b) {
		switch b[i] {
		case ',':
			return skipSpace(b, i+1), true
		case '}':
			return i + 1, false
		}
	}
	return -1, false
}

// Package termtext makes text from outside perfgate (a server's error body, a model id, a
// program's output) safe to print on a terminal and into a CI log: nothing in it can move
// the cursor, retitle the window, clear the screen, reorder the text around it, or start a
// GitHub Actions workflow command ("::error::...", "##[...]") on a line of its own.
//
// [Line] is for a server's words inside perfgate's own message: everything that is not
// printable, newlines included, is shown as an escape ("\n", "\x1b", "\u202e"), so the
// words stay on the line perfgate started. [Text] is for a whole message that may span
// lines by design: it keeps newlines and tabs, escapes everything else that [Line] does,
// and defuses a line that would be read as a workflow command.
package termtext

import (
	"strings"
	"unicode/utf8"
)

// Line returns s as one line: control characters (C0, DEL, C1), invalid UTF-8, Unicode's
// bidirectional and line-separator controls are escaped Go-style ("\n", "\t", "\x1b",
// "\x9b" for a stray byte, "\u202e"), and workflow-command openings are defused. Printable
// text, backslashes included, is left as it is.
func Line(s string) string { return escape(s, false) }

// Text returns s with newlines and tabs kept and everything else escaped as [Line] does;
// a line that would open a workflow command has its opening escaped ("\x3a:error::...").
func Text(s string) string { return escape(s, true) }

// escape does Line (lines false) and Text (lines true). Text that needs nothing escaped is
// returned as it is.
func escape(s string, lines bool) string {
	if plain(s, lines) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	atStart := true // at the start of a line, past nothing but blanks
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteString(`\x` + hex2(s[i]))
		case lines && (r == '\n' || r == '\t'):
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			b.WriteString(c0(r))
		case unsafeRune(r):
			b.WriteString(`\u` + hex4(r))
		case atStart && strings.HasPrefix(s[i:], "::"):
			b.WriteString(`\x3a`) // the line no longer opens a workflow command
		case strings.HasPrefix(s[i:], "##["):
			b.WriteString(`##\x5b`) // the runner reads "##[" commands anywhere in a line
			size = 3
		default:
			b.WriteString(s[i : i+size])
		}
		switch {
		case lines && r == '\n':
			atStart = true
		case r == ' ' || r == '\t':
		default:
			atStart = false
		}
		i += size
	}
	return b.String()
}

// plain reports whether s is printable ASCII (and, for Text, newlines and tabs) that opens
// no workflow command: what escape returns unchanged.
func plain(s string, lines bool) bool {
	atStart := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case lines && c == '\n':
			atStart = true
			continue
		case lines && c == '\t', c == ' ':
			continue
		case c < 0x20 || c >= 0x7f:
			return false
		case c == ':' && atStart && strings.HasPrefix(s[i:], "::"), c == '#' && strings.HasPrefix(s[i:], "##["):
			return false
		}
		atStart = false
	}
	return true
}

// unsafeRune reports the non-ASCII runes a terminal acts on or reorders text by: C1
// controls (U+0080-U+009F: 0x9b is CSI on some terminals), the bidirectional embeddings,
// overrides and isolates, the marks, and the line and paragraph separators.
func unsafeRune(r rune) bool {
	switch {
	case r >= 0x80 && r <= 0x9f:
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f, r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	case r == 0x2028, r == 0x2029:
		return true
	}
	return false
}

// c0 is the escape of a C0 control character or DEL.
func c0(r rune) string {
	switch r {
	case '\n':
		return `\n`
	case '\r':
		return `\r`
	case '\t':
		return `\t`
	}
	return `\x` + hex2(byte(r))
}

const digits = "0123456789abcdef"

func hex2(c byte) string { return string([]byte{digits[c>>4], digits[c&15]}) }

func hex4(r rune) string {
	return string([]byte{digits[r>>12&15], digits[r>>8&15], digits[r>>4&15], digits[r&15]})
}

package resultfile

import (
	"bufio"
	"bytes"
	"fmt"
	"unicode"
	"unicode/utf8"
)

// lineScan sees the bytes benchfmt reads (through an io.TeeReader) and notes, for lines as
// benchfmt splits them (bufio.ScanLines), what benchfmt says nothing about:
//
//   - junk: a line that is not a result, a Unit line, a config line ("key: value", the key
//     starting lower-case) or blank. benchfmt skips such lines silently; a result file holds
//     none, so one is an editing accident, a merge conflict, or two files run together.
//   - a benchmark name alone, which benchfmt skips as `go test -v` progress output: in a
//     result file it is a result line cut right after its name.
//   - whether the input ends inside a line, without its newline: a file cut short.
//
// It keeps only the current line (up to benchfmt's own limit), so memory does not grow
// with the file.
type lineScan struct {
	n    int    // lines seen
	cur  []byte // the current line, up to maxLine bytes
	over bool   // the current line is longer than maxLine: benchfmt fails on it anyway

	junk, nameOnly         int // first such line, 0: none
	junkText, nameOnlyText string
	unterminated           int // the last line, when it has no newline; 0: none
}

// maxLine is the longest line benchfmt's bufio.Scanner reads.
const maxLine = bufio.MaxScanTokenSize

func (s *lineScan) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		chunk := p
		if i >= 0 {
			chunk = p[:i]
		}
		if room := maxLine - len(s.cur); len(chunk) > room {
			s.cur, s.over = append(s.cur, chunk[:room]...), true
		} else {
			s.cur = append(s.cur, chunk...)
		}
		if i < 0 {
			break
		}
		s.endLine()
		p = p[i+1:]
	}
	return n, nil
}

// end is called at the end of the input: a last line without a newline is a line too, as
// for bufio.ScanLines.
func (s *lineScan) end() {
	if len(s.cur) > 0 || s.over {
		s.endLine()
		s.unterminated = s.n
	}
}

func (s *lineScan) endLine() {
	s.n++
	line := bytes.TrimSuffix(s.cur, []byte("\r"))
	if !s.over {
		switch lineKind(line) {
		case kindJunk:
			if s.junk == 0 {
				s.junk, s.junkText = s.n, excerpt(line)
			}
		case kindNameOnly:
			if s.nameOnly == 0 {
				s.nameOnly, s.nameOnlyText = s.n, excerpt(line)
			}
		}
	}
	s.cur, s.over = s.cur[:0], false
}

type kind int

const (
	kindBlank kind = iota
	kindResult
	kindNameOnly
	kindUnit
	kindConfig
	kindJunk
)

// lineKind classifies a line as benchfmt.Reader.Scan does.
func lineKind(line []byte) kind {
	switch {
	case len(bytes.TrimSpace(line)) == 0:
		return kindBlank
	case bytes.HasPrefix(line, []byte("Benchmark")):
		if bytes.IndexFunc(line, unicode.IsSpace) < 0 {
			return kindNameOnly
		}
		return kindResult
	case bytes.Equal(firstField(line), []byte("Unit")):
		return kindUnit
	case isConfigLine(line):
		return kindConfig
	}
	return kindJunk
}

func firstField(line []byte) []byte {
	if i := bytes.IndexFunc(line, unicode.IsSpace); i >= 0 {
		return line[:i]
	}
	return line
}

// isConfigLine is benchfmt's rule for "key: value": a key that begins with a lower-case
// letter and holds no space or upper-case letter, a colon, then nothing or spaces and the
// value.
func isConfigLine(line []byte) bool {
	for i := 0; i < len(line); {
		r, n := utf8.DecodeRune(line[i:])
		if i == 0 && !unicode.IsLower(r) || unicode.IsSpace(r) || unicode.IsUpper(r) {
			return false
		}
		if i > 0 && r == ':' {
			rest := line[i+1:]
			return len(rest) == 0 || rest[0] == ' ' || rest[0] == '\t'
		}
		i += n
	}
	return false
}

// excerpt quotes the start of a line for a message.
func excerpt(line []byte) string {
	const max = 40
	if len(line) <= max {
		return fmt.Sprintf("%q", line)
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(line[cut]) {
		cut--
	}
	return fmt.Sprintf("%q...", line[:cut])
}

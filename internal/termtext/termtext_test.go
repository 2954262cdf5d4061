package termtext

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The body issue 23 saw printed raw: an HTML 500 page with a title escape, a screen clear,
// and a new line that opens a markdown heading and a workflow command.
const hostile = "<html>\x1b]0;PWNED\x07\x1b[2J<h1>oops</h1>\n# Heading\n::error file=x::pwned\n  ::set-output name=a::b\r\n##[warning]v1"

func TestLine(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"HTTP 500: out of KV blocks", "HTTP 500: out of KV blocks"},
		{"", ""},
		{`C:\path "quoted" 100%`, `C:\path "quoted" 100%`},
		{"a\nb\r\nc\td", `a\nb\r\nc\td`},
		{"\x1b[31mred\x1b[0m", `\x1b[31mred\x1b[0m`},
		{"bell\x07 nul\x00 del\x7f", `bell\x07 nul\x00 del\x7f`},
		{"c1 \u009b2J", `c1 \u009b2J`},
		{"bad \xff\xfe utf-8", `bad \xff\xfe utf-8`},
		{"rtl \u202eevil\u202c \u2066iso\u2069 \u200f", `rtl \u202eevil\u202c \u2066iso\u2069 \u200f`},
		{"sep\u2028line\u2029para", `sep\u2028line\u2029para`},
		{"::error::x", `\x3a:error::x`},
		{"  ::error::x", `  \x3a:error::x`},
		{"a ::not at start", "a ::not at start"},
		{"mid ##[group]x", `mid ##\x5bgroup]x`},
		{"model café 模型 🙂", "model café 模型 🙂"},
		{hostile, `<html>\x1b]0;PWNED\x07\x1b[2J<h1>oops</h1>\n# Heading\n::error file=x::pwned\n  ::set-output name=a::b\r\n##\x5bwarning]v1`},
	} {
		got := Line(tc.in)
		assert.Equal(t, tc.want, got, "Line(%q)", tc.in)
		assert.NotContains(t, got, "\n")
		assertSafe(t, got)
	}
}

func TestText(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"bad Case:\n  Timeout must be > 0\n\tand more", "bad Case:\n  Timeout must be > 0\n\tand more"},
		{"line\r\nnext", "line\\r\nnext"},
		{"\x1b[2Jcleared", `\x1b[2Jcleared`},
		{"ok\n::error::x\n\t ::warning::y\n##[group]z", "ok\n\\x3a:error::x\n\t \\x3a:warning::y\n##\\x5bgroup]z"},
		{"a::b\nc ::d", "a::b\nc ::d"},
		{"::", `\x3a:`},
		{hostile, "<html>\\x1b]0;PWNED\\x07\\x1b[2J<h1>oops</h1>\n# Heading\n\\x3a:error file=x::pwned\n  \\x3a:set-output name=a::b\\r\n##\\x5bwarning]v1"},
	} {
		got := Text(tc.in)
		assert.Equal(t, tc.want, got, "Text(%q)", tc.in)
		assertSafe(t, got)
	}
}

// Nothing escaped comes back as the same string (no copy).
func TestPlainUnchanged(t *testing.T) {
	s, m := "perfgate run: repetition 1: 3 of 4 requests failed", "bad Case:\n  Timeout must be > 0"
	assert.Equal(t, 0.0, testing.AllocsPerRun(100, func() { _ = Line(s); _ = Text(m) }))
}

// assertSafe: no byte a terminal acts on, and no line a runner reads as a command.
func assertSafe(t *testing.T, s string) {
	t.Helper()
	assert.True(t, utf8.ValidString(s), "valid UTF-8: %q", s)
	for _, r := range s {
		if r != '\n' && r != '\t' && (r < 0x20 || r == 0x7f || unsafeRune(r)) {
			t.Errorf("%q holds %U", s, r)
		}
	}
	for line := range strings.Lines(s) {
		l := strings.TrimLeft(line, " \t")
		if strings.HasPrefix(l, "::") || strings.Contains(l, "##[") {
			t.Errorf("%q opens a workflow command", line)
		}
	}
}

func FuzzEscape(f *testing.F) {
	for _, s := range []string{hostile, "::a", "x\n  ##[y", "\xff", "\u202e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, x := Line(s), Text(s)
		assertSafe(t, l)
		assertSafe(t, x)
		assert.NotContains(t, l, "\n")
		assert.Equal(t, strings.Count(s, "\n"), strings.Count(x, "\n"), "Text keeps the lines")
	})
}

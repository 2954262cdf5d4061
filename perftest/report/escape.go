package report

import (
	"strconv"
	"strings"
	"unicode"
)

// Names, paths and messages in a report come from files and servers: a `|` would split a
// table cell, raw HTML (`<img src=...>`) would pass into the markdown GitHub renders, and a
// line end would start a heading of the file's choosing. What the report writes of them
// goes through mdCode, mdCell or mdText; markdownHTML reads the escapes back.

// mdCode renders s as inline code on one line: control characters (line ends, escapes) as
// Go writes them in a string ("\n", "\x1b"), and backticks, which would end the code, as
// the modifier letter grave accent (U+02CB).
func mdCode(s string) string { return "`" + strings.ReplaceAll(oneLine(s), "`", "\u02cb") + "`" }

// mdCell is mdCode for a table cell, where GitHub reads `\|` as a pipe even inside code.
func mdCell(s string) string { return strings.ReplaceAll(mdCode(s), "|", `\|`) }

// mdText escapes s for markdown text, table cells included: on one line, with every ASCII
// punctuation character markdown or HTML could read as syntax backslash-escaped.
func mdText(s string) string {
	var b strings.Builder
	for _, r := range oneLine(s) {
		if strings.ContainsRune("\\`*_[]<>|&#!~", r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// oneLine writes the control characters of s as Go escapes.
func oneLine(s string) string {
	if !strings.ContainsFunc(s, unicode.IsControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unicode.IsControl(r) {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

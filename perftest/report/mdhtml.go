package report

import (
	"html"
	"regexp"
	"strings"
)

// markdownHTML renders the markdown this package and the gate write (headings, paragraphs,
// block quotes, bullet lists, fenced code, pipe tables; inline code, bold and escaped
// asterisks) as HTML, so that report.html shows the very text of report.md instead of a
// second rendering of the same figures. It is not a general markdown renderer.
func markdownHTML(md string) string {
	var b strings.Builder
	lines := strings.Split(strings.TrimRight(md, "\n"), "\n")
	for i := 0; i < len(lines); {
		line := lines[i]
		switch {
		case strings.TrimSpace(line) == "":
			i++
		case strings.HasPrefix(line, "```"):
			j := i + 1
			for j < len(lines) && !strings.HasPrefix(lines[j], "```") {
				j++
			}
			b.WriteString("<pre>" + html.EscapeString(strings.Join(lines[i+1:min(j, len(lines))], "\n")) + "</pre>\n")
			i = j + 1
		case strings.HasPrefix(line, "#"):
			n := len(line) - len(strings.TrimLeft(line, "#"))
			tag := "h" + string(rune('0'+min(max(n, 2), 6))) // the page has its own h1
			b.WriteString("<" + tag + ">" + inline(strings.TrimSpace(line[n:])) + "</" + tag + ">\n")
			i++
		case strings.HasPrefix(line, "|"):
			j := i
			for j < len(lines) && strings.HasPrefix(lines[j], "|") {
				j++
			}
			writeTable(&b, lines[i:j])
			i = j
		case strings.HasPrefix(line, "- "):
			b.WriteString("<ul>\n")
			for ; i < len(lines) && strings.HasPrefix(lines[i], "- "); i++ {
				b.WriteString("<li>" + inline(lines[i][2:]) + "</li>\n")
			}
			b.WriteString("</ul>\n")
		case strings.HasPrefix(line, "> "):
			var quote []string
			for ; i < len(lines) && strings.HasPrefix(lines[i], "> "); i++ {
				quote = append(quote, lines[i][2:])
			}
			b.WriteString("<blockquote>" + inline(strings.Join(quote, " ")) + "</blockquote>\n")
		default:
			var para []string
			for ; i < len(lines) && strings.TrimSpace(lines[i]) != "" && !blockStart(lines[i]); i++ {
				para = append(para, strings.TrimSuffix(lines[i], "  "))
			}
			b.WriteString("<p>" + strings.Join(mapStrings(para, inline), "<br>") + "</p>\n")
		}
	}
	return b.String()
}

func blockStart(line string) bool {
	for _, p := range []string{"#", "|", "- ", "> ", "```"} {
		if strings.HasPrefix(line, p) {
			return true
		}
	}
	return false
}

func mapStrings(ss []string, f func(string) string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = f(s)
	}
	return out
}

// writeTable writes a pipe table (header, alignment row, rows) inside a scrolling box, so
// that a wide table scrolls on a phone instead of widening the page.
func writeTable(b *strings.Builder, rows []string) {
	cells := func(row string) []string {
		row = strings.TrimSpace(row)
		row = strings.TrimSuffix(strings.TrimPrefix(row, "|"), "|")
		// Split on the pipes that are not escaped (mdCell and mdText escape theirs).
		parts := splitCells(row)
		for i := range parts {
			parts[i] = strings.TrimSpace(parts[i])
		}
		return parts
	}
	b.WriteString("<div class=\"scroll\"><table>\n")
	var align []string
	if len(rows) > 1 {
		for _, a := range cells(rows[1]) {
			if strings.HasSuffix(a, ":") {
				align = append(align, ` class="num"`)
			} else {
				align = append(align, "")
			}
		}
	}
	at := func(i int) string {
		if i < len(align) {
			return align[i]
		}
		return ""
	}
	b.WriteString("<thead><tr>")
	for i, c := range cells(rows[0]) {
		b.WriteString("<th" + at(i) + ">" + inline(c) + "</th>")
	}
	b.WriteString("</tr></thead>\n<tbody>\n")
	for _, row := range rows[min(2, len(rows)):] {
		cls := ""
		if strings.Contains(row, "**REGRESSION**") || strings.Contains(row, "**worse**") {
			cls = ` class="bad"`
		} else if strings.Contains(row, "| improvement |") || strings.Contains(row, "| improved") {
			cls = ` class="good"`
		}
		b.WriteString("<tr" + cls + ">")
		for i, c := range cells(row) {
			b.WriteString("<td" + at(i) + ">" + inline(c) + "</td>")
		}
		b.WriteString("</tr>\n")
	}
	b.WriteString("</tbody></table></div>\n")
}

// splitCells splits a table row's inside at the pipes no backslash escapes.
func splitCells(row string) []string {
	var parts []string
	start := 0
	for i := 0; i < len(row); i++ {
		switch row[i] {
		case '\\':
			i++
		case '|':
			parts = append(parts, row[start:i])
			start = i + 1
		}
	}
	return append(parts, row[start:])
}

var (
	codeSpan = regexp.MustCompile("`([^`]*)`")
	boldSpan = regexp.MustCompile(`\*\*([^*]+)\*\*`)
)

// inline escapes text for HTML and renders `code` (in which `\|` is a pipe, as in a GitHub
// table), **bold** and backslash-escaped punctuation.
func inline(s string) string {
	var b strings.Builder
	last := 0
	for _, m := range codeSpan.FindAllStringSubmatchIndex(s, -1) {
		if escaped(s, m[0]) {
			continue
		}
		b.WriteString(emphasis(s[last:m[0]]))
		b.WriteString("<code>" + html.EscapeString(strings.ReplaceAll(s[m[2]:m[3]], `\|`, "|")) + "</code>")
		last = m[1]
	}
	b.WriteString(emphasis(s[last:]))
	return b.String()
}

// escaped reports whether the byte at i follows a backslash that is not itself escaped.
func escaped(s string, i int) bool {
	n := 0
	for j := i - 1; j >= 0 && s[j] == '\\'; j-- {
		n++
	}
	return n%2 == 1
}

// emphasis renders **bold** and backslash-escaped ASCII punctuation, escaping the rest for
// HTML. An escaped character stands in as a private-use rune while the bold is found, so
// that \* is never emphasis.
func emphasis(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && isASCIIPunct(s[i+1]) {
			b.WriteRune(privateUse + rune(s[i+1]))
			i++
			continue
		}
		b.WriteByte(s[i])
	}
	out := boldSpan.ReplaceAllString(html.EscapeString(b.String()), "<strong>$1</strong>")
	b.Reset()
	for _, r := range out {
		if r >= privateUse && r < privateUse+0x80 {
			b.WriteString(html.EscapeString(string(r - privateUse)))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// isASCIIPunct reports whether c is ASCII punctuation, which a backslash escapes in
// markdown.
func isASCIIPunct(c byte) bool {
	return c > ' ' && c < 0x7f && !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z')
}

// privateUse stands for a backslash-escaped ASCII character, privateUse + the character.
const privateUse = 0xE000

package report

import (
	"strings"
	"testing"
)

func FuzzParseServerSample(f *testing.F) {
	f.Add(`{"rep": 0, "t_ns": 1500000000, "waiting": 3, "kv-usage": 0.41}`)
	f.Add(`{"rep": -1, "t_ns": 1}`)
	f.Add(`{"t_ns": "x"}`)
	f.Add(`{"rep": 1e99, "t_ns": 1}`)
	f.Fuzz(func(t *testing.T, line string) {
		s, err := parseServerSample([]byte(line))
		if err == nil && (s.rep < 0 || s.Values == nil) {
			t.Fatalf("%q: accepted %+v", line, s)
		}
	})
}

// FuzzMarkdownHTML: whatever the markdown, the HTML escapes it: no tag comes from the
// input.
func FuzzMarkdownHTML(f *testing.F) {
	f.Add("### h\n\n| a | b |\n|---|--:|\n| `<x>` | **y** |\n")
	f.Add("> **q** <script>alert(1)</script>\n\n- <img src=x>\n\n```\n<b>\n```\n")
	f.Add("|\n|")
	f.Fuzz(func(t *testing.T, md string) {
		out := markdownHTML(md)
		for _, tag := range []string{"<script", "<img", "<a ", "<iframe", "<style"} {
			if strings.Contains(strings.ToLower(out), tag) {
				t.Fatalf("%q rendered %q", md, out)
			}
		}
	})
}

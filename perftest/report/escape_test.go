package report

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// copyGated copies testdata/gated's PerfChat result and baseline into dir as NAME.txt and
// NAME.baseline.txt, with the benchmark named bench and edit applied to the result.
func copyGated(t *testing.T, dir, name, bench string, edit func(string) string) {
	t.Helper()
	for _, suffix := range []string{".txt", ".baseline.txt"} {
		b, err := os.ReadFile(filepath.Join("testdata/gated", "PerfChat"+suffix))
		require.NoError(t, err)
		s := strings.ReplaceAll(string(b), "BenchmarkPerfChat ", "Benchmark"+bench+" ")
		if suffix == ".txt" && edit != nil {
			s = edit(s)
		}
		require.NoError(t, os.WriteFile(filepath.Join(dir, name+suffix), []byte(s), 0o644))
	}
}

// unescapedPipes counts the pipes of a markdown line that no backslash escapes.
var unescapedPipe = regexp.MustCompile(`(^|[^\\])\|`)

// TestMarkdownEscapesWhatFilesSay: a `|` in a case name, raw HTML in it, and a line end in
// a history's case name (issue 23: they split table cells, passed into the markdown, and
// made a heading) are shown as text, in report.md and in report.html.
func TestMarkdownEscapesWhatFilesSay(t *testing.T) {
	dir := t.TempDir()
	copyGated(t, dir, "weird", "Perf|x<img/src=x>", nil)
	hist := filepath.Join(dir, "cpu", "X.history.jsonl")
	require.NoError(t, os.MkdirAll(filepath.Dir(hist), 0o755))
	var lines strings.Builder
	for i := range 12 {
		fmt.Fprintf(&lines, `{"time":"2026-11-01T%02d:00:00Z","case":"X\n# Injected <img src=x> | y","n":10,"medians":{"req/s":%d}}`+"\n", i, 30+i%2)
	}
	require.NoError(t, os.WriteFile(hist, []byte(lines.String()), 0o644))
	r, err := Load(dir, Options{})
	require.NoError(t, err)
	var b strings.Builder
	require.NoError(t, r.WriteMarkdown(&b))
	md := b.String()
	for _, line := range strings.Split(md, "\n") {
		assert.False(t, strings.HasPrefix(line, "# Injected"), "a line end in a name starts no heading")
		if strings.HasPrefix(line, "| `Perf") || strings.HasPrefix(line, "| `X") {
			assert.Len(t, unescapedPipe.FindAllString(line, -1), 4, "three cells: %s", line)
		}
	}
	assert.Contains(t, md, "| `Perf\\|x<img/src=x>` |")
	assert.Contains(t, md, "| `X\\n# Injected <img src=x> \\| y` (history) |")
	assert.Contains(t, md, "### History `X\\n# Injected <img src=x> | y`")
	// The gate's own section heads the comparison with the benchmark name, which a result
	// file cannot give a space: "<img/src=x>" is no HTML tag to a markdown reader.
	outside := regexp.MustCompile("`[^`]*`").ReplaceAllString(md, "")
	assert.NotContains(t, outside, "<img src", "raw HTML only inside code")

	html := markdownHTML(md)
	assert.NotContains(t, html, "<img")
	assert.Contains(t, html, "<td><code>Perf|x&lt;img/src=x&gt;</code></td>", "the pipe is the name's, in one cell")
}

// TestHeadlineNamesARegressionBesideAnUnhealthyRun: a folder with one REGRESSION and one
// UNHEALTHY run (issue 23: headlined "UNHEALTHY: 1 of 2 runs", hiding the regression).
func TestHeadlineNamesARegressionBesideAnUnhealthyRun(t *testing.T) {
	dir := t.TempDir()
	copyGated(t, dir, "PerfChat", "PerfChat", nil)
	copyGated(t, dir, "PerfSick", "PerfSick", func(s string) string {
		return strings.Replace(s, "cache-reset: yes\n", "cache-reset: yes\nhealth: error-rate\n", 1)
	})
	r, err := Load(dir, Options{})
	require.NoError(t, err)
	assert.Equal(t, Unhealthy, r.Verdict())
	assert.Equal(t, "UNHEALTHY: 1 of 2 runs recorded problems (error rate, undelivered load): not compared; REGRESSION: 1 of 2 compared runs regressed", r.Headline())
}

func TestMarkdownTextEscapes(t *testing.T) {
	for in, want := range map[string]string{
		"plain words, 5.0% and --flags":  "plain words, 5.0% and --flags",
		"a|b <img src=x> *x* `c` [l](u)": `a\|b \<img src=x\> \*x\* \` + "`c\\`" + ` \[l\](u)`,
		"line\nbreak\x1b[2J":             `line\\nbreak\\x1b\[2J`,
	} {
		assert.Equal(t, want, mdText(in), "%q", in)
		assert.Equal(t, "<p>"+strings.ReplaceAll(strings.ReplaceAll(oneLine(in), "<", "&lt;"), ">", "&gt;")+"</p>\n",
			strings.ReplaceAll(markdownHTML(mdText(in)), "&#34;", `"`), "the HTML shows the text as it was: %q", in)
	}
	assert.Equal(t, "`a\u02cbb\\n`", mdCode("a`b\n"))
	assert.Equal(t, "`a\\|b`", mdCell("a|b"))
}

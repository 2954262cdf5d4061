package report

import (
	"fmt"
	"html/template"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/perftest/plot"
)

// has checks that a page contains s without printing the page when it does not.
func has(t *testing.T, page, s string) {
	t.Helper()
	if !strings.Contains(page, s) {
		t.Errorf("the page (%d bytes) does not contain %q", len(page), s)
	}
}

func writeHTML(t *testing.T, r *Report) string {
	t.Helper()
	var b strings.Builder
	require.NoError(t, r.WriteHTML(&b))
	return b.String()
}

var (
	svgElem  = regexp.MustCompile(`(?s)<svg class="chart".*?</svg>`)
	figPts   = regexp.MustCompile(`<figure data-points="(\d+)">`)
	hrefAttr = regexp.MustCompile(`(?i)\shref\s*=\s*"([^"]*)"`)
)

// selfContained lists what in a page could make a browser load something: URLs, scripts,
// external resources, links that leave the page.
func selfContained(page string) []string {
	var bad []string
	low := strings.ToLower(page)
	for _, s := range []string{"http:", "https:", "ftp:", "url(", "@import", "<script", "<link", "<img", "<iframe", "<object", "<embed", " src=", "xlink:href", "file:"} {
		if strings.Contains(low, s) {
			bad = append(bad, fmt.Sprintf("contains %q", s))
		}
	}
	for _, m := range hrefAttr.FindAllStringSubmatch(page, -1) {
		if !strings.HasPrefix(m[1], "#") {
			bad = append(bad, fmt.Sprintf("link out of the page: %q", m[1]))
		}
	}
	return bad
}

// dataMarks counts an SVG's elements drawn in a data colour (package plot's palette but
// black): points, lines and dashes of the series, never axes, ticks, text or grid.
func dataMarks(svg string) int {
	n := 0
	for _, el := range regexp.MustCompile(`<(?:path|circle|rect|polyline)\b[^>]*>`).FindAllString(svg, -1) {
		low := strings.ToLower(el)
		for _, c := range plot.DataColors() {
			if strings.Contains(low, "fill:"+c) || strings.Contains(low, "stroke:"+c) {
				n++
				break
			}
		}
	}
	return n
}

// checkPlots checks that every chart of a page has data marks, and returns the count.
func checkPlots(t *testing.T, name, page string) int {
	t.Helper()
	svgs := svgElem.FindAllString(page, -1)
	figs := figPts.FindAllStringSubmatch(page, -1)
	require.Equal(t, len(figs), len(svgs), "%s: one chart per figure", name)
	for i, svg := range svgs {
		pts, _ := strconv.Atoi(figs[i][1])
		title := regexp.MustCompile(`<title>(.*?)</title>`).FindStringSubmatch(svg)
		assert.Positive(t, pts, "%s: chart %d (%v) has no data points", name, i+1, title)
		assert.Positive(t, dataMarks(svg), "%s: chart %d (%v) draws no data mark", name, i+1, title)
	}
	return len(svgs)
}

func TestHTMLSelfContained(t *testing.T) {
	want := map[string]int{ // charts per example page
		"gated":   19 + 4, // every gated metric's distribution, the timeline's four
		"sweep":   4,      // TTFT, ITL, throughput, pareto
		"ab":      19 + 3, // distributions, three metrics in run order
		"history": 19,     // every metric over the runs
	}
	for _, ex := range examples {
		t.Run(ex, func(t *testing.T) {
			page := writeHTML(t, load(t, ex))
			assert.Empty(t, selfContained(page))
			has(t, page, `<meta http-equiv="Content-Security-Policy" content="`+template.HTMLEscapeString(CSP)+`">`)
			has(t, page, `<meta name="viewport" content="width=device-width, initial-scale=1">`)
			has(t, page, "@media print")
			assert.Equal(t, want[ex], checkPlots(t, ex, page))
			assert.True(t, page == writeHTML(t, load(t, ex)), "the page is the same on every run")
		})
	}
}

// TestSelfContainedCheckFails: the checks above catch what they look for.
func TestSelfContainedCheckFails(t *testing.T) {
	assert.NotEmpty(t, selfContained(`<img src="x.png">`))
	assert.NotEmpty(t, selfContained(`<a href="https://example.com">x</a>`))
	assert.NotEmpty(t, selfContained(`<style>@font-face{src:url(x.woff)}</style>`))
	assert.Empty(t, selfContained(`<a href="#case-1">x</a>`))
	c := plot.Chart{Title: "t", Series: []plot.Series{{Points: []plot.Point{{X: 1, Y: 1}}, Color: plot.Blue}}}
	svg, err := c.InlineSVG()
	require.NoError(t, err)
	assert.Equal(t, 1, dataMarks(svg))
	axesOnly := regexp.MustCompile(`(?i)fill:#0072b2`).ReplaceAllString(svg, "fill:#000000")
	assert.Zero(t, dataMarks(axesOnly))
}

func TestHTMLShowsEveryPart(t *testing.T) {
	page := writeHTML(t, load(t, "gated"))
	for _, s := range []string{
		"<h1>perfgate: REGRESSION: 1 of 1 compared run regressed</h1>",
		`<td class="num">5.5%</td>`, // MDE column of the gate's table
		"<strong>REGRESSION</strong>",
		"Distributions across repetitions",
		"TTFT of each request", "inter-token latency of each gap", "waiting in the server", "server KV-cache usage",
		"Repetition 3 of 10, the one nearest the median output rate",
	} {
		has(t, page, s)
	}
	page = writeHTML(t, load(t, "sweep"))
	for _, s := range []string{"TTFT against load", "ITL against load", "throughput against load", "pareto: throughput per GPU against speed per user"} {
		has(t, page, s)
	}
	page = writeHTML(t, load(t, "history"))
	has(t, page, "tpot-p50-sec (1 change point)")
	has(t, page, "stroke-dasharray") // change points are dashed lines
}

func TestMarkdownHTML(t *testing.T) {
	got := markdownHTML("### perfgate: X\n\n`a` → `b`\n\n| metric | value |\n|---|--:|\n| `m<1>` | **+5%** \\* |\n\n**Warnings**\n\n- one\n- two\n\n> **INCONCLUSIVE**: why.\n\n```\nx < y\n```\nlast  \nline\n")
	want := "<h3>perfgate: X</h3>\n<p><code>a</code> → <code>b</code></p>\n" +
		"<div class=\"scroll\"><table>\n<thead><tr><th>metric</th><th class=\"num\">value</th></tr></thead>\n<tbody>\n" +
		"<tr><td><code>m&lt;1&gt;</code></td><td class=\"num\"><strong>+5%</strong> *</td></tr>\n</tbody></table></div>\n" +
		"<p><strong>Warnings</strong></p>\n<ul>\n<li>one</li>\n<li>two</li>\n</ul>\n" +
		"<blockquote><strong>INCONCLUSIVE</strong>: why.</blockquote>\n<pre>x &lt; y</pre>\n<p>last<br>line</p>\n"
	assert.Equal(t, want, got)
}

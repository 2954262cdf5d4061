package report

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/perftest/plot"
)

// chromium finds a Chromium or Chrome binary, or skips the test saying how to get one.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no Chromium on PATH, so report.html is not opened in a browser (Debian: apt-get install -y chromium; ci/check installs it)")
	return ""
}

// browserRun is what Chromium saw of a page.
type browserRun struct {
	dom      string
	console  []string // console messages, CSP violations among them
	requests []string // network requests the page made
	shot     image.Image
}

// openPage loads path in headless Chromium once: it dumps the DOM after load, takes a
// screenshot of the first 1280x3000 pixels, logs console messages to stderr and every
// network request to a NetLog file. The browser's own background requests (updates,
// time, accounts) carry no page origin and are told apart from the page's.
func openPage(t *testing.T, bin, path string) browserRun {
	t.Helper()
	abs, err := filepath.Abs(path)
	require.NoError(t, err)
	tmp := t.TempDir()
	netlog, shot := filepath.Join(tmp, "netlog.json"), filepath.Join(tmp, "shot.png")
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--user-data-dir="+filepath.Join(tmp, "profile"), "--disable-background-networking", "--disable-component-update",
		"--disable-sync", "--disable-extensions", "--disable-default-apps", "--no-pings",
		"--enable-logging=stderr", "--v=0", "--log-net-log="+netlog,
		"--hide-scrollbars", "--window-size=1280,3000", "--screenshot="+shot, "--dump-dom", "file://"+filepath.ToSlash(abs))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium on %s: %v\n%s", path, err, tail(stderr.String(), 2000))
	}
	run := browserRun{dom: stdout.String()}
	for _, line := range strings.Split(stderr.String(), "\n") {
		if strings.Contains(line, ":CONSOLE") {
			run.console = append(run.console, line)
		}
	}
	run.requests = pageRequests(t, netlog)
	f, err := os.Open(shot)
	require.NoError(t, err, "chromium wrote no screenshot")
	defer f.Close()
	run.shot, err = png.Decode(f)
	require.NoError(t, err)
	return run
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// pageRequests reads a NetLog and returns the URLs of requests made on behalf of a page
// (those with a file:// network isolation key or a page initiator).
func pageRequests(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var log struct {
		Constants struct {
			LogEventTypes map[string]int `json:"logEventTypes"`
		} `json:"constants"`
		Events []struct {
			Type   int            `json:"type"`
			Params map[string]any `json:"params"`
		} `json:"events"`
	}
	if err := json.Unmarshal(b, &log); err != nil {
		// Chromium ends the file at exit; a run killed early leaves it open-ended.
		require.NoError(t, json.Unmarshal(append(bytes.TrimRight(b, ",\n"), []byte("]}")...), &log), "netlog")
	}
	start, ok := log.Constants.LogEventTypes["URL_REQUEST_START_JOB"]
	require.True(t, ok, "netlog has no URL_REQUEST_START_JOB event type")
	var urls []string
	for _, e := range log.Events {
		if e.Type != start {
			continue
		}
		nik, _ := e.Params["network_isolation_key"].(string)
		init, _ := e.Params["initiator"].(string)
		if strings.Contains(nik, "file://") || (init != "" && init != "not an origin") {
			u, _ := e.Params["url"].(string)
			urls = append(urls, u)
		}
	}
	return urls
}

// dataPixels counts the screenshot's pixels within a small distance of a data colour other
// than grey (anti-aliased text is grey too).
func dataPixels(img image.Image) int {
	var cols [][3]int
	for _, c := range plot.DataColors() {
		if c == plot.Color(plot.Gray) {
			continue
		}
		v, _ := strconv.ParseUint(c[1:], 16, 32)
		cols = append(cols, [3]int{int(v >> 16), int(v >> 8 & 0xff), int(v & 0xff)})
	}
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			for _, c := range cols {
				if abs(int(r>>8)-c[0])+abs(int(g>>8)-c[1])+abs(int(bl>>8)-c[2]) < 30 {
					n++
					break
				}
			}
		}
	}
	return n
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// TestHTMLInChromium opens each example's report.html in headless Chromium: the page
// parses, logs nothing on the console (a blocked request would be a CSP violation there),
// makes no network request, and every plot has data points, in the browser's DOM and on
// screen.
func TestHTMLInChromium(t *testing.T) {
	bin := chromium(t)
	dir := t.TempDir()
	for _, ex := range examples {
		t.Run(ex, func(t *testing.T) {
			path := filepath.Join(dir, ex+".html")
			page := writeHTML(t, load(t, ex))
			require.NoError(t, os.WriteFile(path, []byte(page), 0o644))
			run := openPage(t, bin, path)
			assert.Empty(t, run.console, "console messages")
			assert.Empty(t, run.requests, "network requests")
			n := checkPlots(t, ex+" in Chromium", run.dom)
			assert.Equal(t, strings.Count(page, `<svg class="chart"`), n, "Chromium's DOM has every chart")
			assert.Contains(t, run.dom, "</footer>", "the whole page was parsed")
			px := dataPixels(run.shot)
			assert.Greater(t, px, minDataPixels, "the screenshot's plots show data (%d data-coloured pixels)", px)
			t.Logf("%s: %d charts, %d data-coloured pixels in the first 3000 px", ex, n, px)
		})
	}
}

// minDataPixels is the fewest data-coloured pixels the top of a page with plots shows: the
// legends' dots alone stay below it (TestChromiumCheckFails).
const minDataPixels = 2000

// TestChromiumCheckFails: a page that loads an image and logs an error is caught by both
// checks, and a page whose plots are gone shows too few data pixels.
func TestChromiumCheckFails(t *testing.T) {
	bin := chromium(t)
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1); w.WriteHeader(404) }))
	defer srv.Close()
	path := filepath.Join(t.TempDir(), "bad.html")
	page := fmt.Sprintf(`<!doctype html><html><body><p>bad</p><img src="%s/x.png"><script>console.error("boom")</script><footer></footer></body></html>`, srv.URL)
	require.NoError(t, os.WriteFile(path, []byte(page), 0o644))
	run := openPage(t, bin, path)
	assert.NotEmpty(t, run.console, "console.error is seen")
	assert.NotEmpty(t, run.requests, "the image request is seen")
	assert.Positive(t, hits.Load(), "the server saw the request the check reports")
	assert.Less(t, dataPixels(run.shot), 50, "a page without plots has (next to) no data-coloured pixels")

	// The gated example with every chart taken out, legends kept.
	stripped := svgElem.ReplaceAllString(writeHTML(t, load(t, "gated")), "")
	require.NoError(t, os.WriteFile(path, []byte(stripped), 0o644))
	px := dataPixels(openPage(t, bin, path).shot)
	assert.Less(t, px, minDataPixels, "legends without charts")
	t.Logf("the gated page without its charts: %d data-coloured pixels", px)
}

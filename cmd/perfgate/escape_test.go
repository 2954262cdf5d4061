package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/internal/fakeserver"
)

// assertTerminalSafe: no byte a terminal acts on (ESC, BEL, C1, bidi controls, a CR) and
// no line a CI runner reads as a workflow command, in what perfgate printed.
func assertTerminalSafe(t *testing.T, out string) {
	t.Helper()
	for _, r := range out {
		if r != '\n' && r != '\t' && (r < 0x20 || r == 0x7f || r >= 0x80 && r <= 0x9f || r >= 0x202a && r <= 0x202e) {
			t.Errorf("output holds %U:\n%s", r, out)
			return
		}
	}
	for line := range strings.Lines(out) {
		if l := strings.TrimLeft(line, " \t"); strings.HasPrefix(l, "::") || strings.Contains(l, "##[") || strings.HasPrefix(l, "# Heading") {
			t.Errorf("a server started a line of its own: %q", line)
		}
	}
}

// Issue 23: an HTTP 500 body was printed raw by perfgate run: its escape sequences
// rewrote the terminal, its newlines started lines of their own (a CI workflow command).
func TestRunEscapesServerWords(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  fakeserver.Config
		want string
	}{
		{"http-500", fakeserver.Config{Fault: fakeserver.HTTP500Hostile}, `HTTP 500: <html>\x1b]0;PWNED\x07\x1b[2J<h1>oops</h1>\n# Heading\n::error file=x.go::pwned`},
		{"in-stream", fakeserver.Config{StreamError: fakeserver.HostileText, ErrorAfter: 1}, `\x1b[2J<h1>oops</h1>\n# Heading`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := fakeserver.Start(t, tc.cfg)
			code, stdout, stderr := runCmd(t, "run", "--endpoint", srv.BaseURL(), "--isl", "8", "--osl", "4", "--requests", "2",
				"--concurrency", "1", "--count", "1", "--warmup", "-1", "--out", t.TempDir(), "--name", "Hostile", "-q")
			assert.Equal(t, 1, code, "%s%s", stdout, stderr)
			assert.Contains(t, stderr, tc.want)
			assertTerminalSafe(t, stdout+stderr)
		})
	}
}

// A model id that is hostile is quoted, and the message names the flag the user typed
// (--model), not the library's field (issue 23: "set Case.Model").
func TestRunEscapesModelIDs(t *testing.T) {
	srv := fakeserver.Start(t, fakeserver.Config{Models: []string{"m\x1b]0;PWNED\x07\n::error::x"}})
	for _, cmd := range [][]string{
		{"run", "--endpoint", srv.BaseURL(), "--out", t.TempDir()},
		{"profile", "--endpoint", srv.BaseURL(), "--prefill-requests", "1", "--max-isl", "128"},
		{"router", "--endpoint", "kv=" + srv.BaseURL(), "--ratios", "0.5", "--requests", "2", "--isl", "64", "--osl", "4", "--prefixes", "1"},
	} {
		t.Run(cmd[0], func(t *testing.T) {
			code, stdout, stderr := runCmd(t, append(cmd, "--model", "other")...)
			assert.NotEqual(t, 0, code)
			assert.Contains(t, stderr, `it lists ["m\x1b]0;PWNED\a\n::error::x"] (set --model to one of them)`)
			assert.NotContains(t, stderr, "Case.Model")
			assertTerminalSafe(t, stdout+stderr)
		})
	}
}

// Issue 23: profile and router printed a server's 500 body raw as well.
func TestProfileAndRouterEscapeServerWords(t *testing.T) {
	srv := fakeserver.Start(t, fakeserver.Config{Fault: fakeserver.HTTP500Hostile})
	for _, cmd := range [][]string{
		{"profile", "--endpoint", srv.BaseURL(), "--prefill-requests", "1", "--max-isl", "128"},
		{"router", "--endpoint", "kv=" + srv.BaseURL(), "--ratios", "0.5", "--requests", "2", "--isl", "64", "--osl", "4", "--prefixes", "1"},
	} {
		t.Run(cmd[0], func(t *testing.T) {
			_, stdout, stderr := runCmd(t, cmd...)
			assert.Contains(t, stderr, `\x1b]0;PWNED\x07\x1b[2J<h1>oops</h1>\n# Heading`)
			assertTerminalSafe(t, stdout+stderr)
		})
	}
}

// Issue 23: perfgate profile read /metrics with no size limit (2.25 GB in 10 s) and no
// timeout, and had neither --timeout nor --stall-timeout: against a stalled stream it sat
// at its first prompt length, printing nothing.
func TestProfileBoundedAgainstHostileServers(t *testing.T) {
	for _, tc := range []struct {
		fault fakeserver.Fault
		args  []string
		want  []string
	}{
		{fakeserver.MetricsForever, nil, []string{"read KV capacity: ", "/metrics: the exposition is over 16 MiB; give the KV cache size (--kv-capacity)"}},
		{fakeserver.MetricsHang, []string{"--timeout", "1s"}, []string{"/metrics: no answer within 1s; give the KV cache size (--kv-capacity)"}},
		{fakeserver.Stall, []string{"--stall-timeout", "1s", "--max-isl", "128"}, []string{"no event for 1s (the stall timeout)"}},
	} {
		t.Run(string(tc.fault), func(t *testing.T) {
			srv := fakeserver.Start(t, fakeserver.Config{Fault: tc.fault})
			args := append([]string{"profile", "--endpoint", srv.BaseURL(), "--prefill-requests", "1", "--decode-isls", "128", "--max-isl", "512", "--osl", "4"}, tc.args...)
			code, stdout, stderr := runCmd(t, args...)
			assert.Equal(t, 1, code, "%s%s", stdout, stderr)
			for _, w := range tc.want {
				assert.Contains(t, stderr, w)
			}
		})
	}
}

// The line while a burst waits: a stalled server shows as waiting.
func TestProfileSaysItWaits(t *testing.T) {
	srv := fakeserver.Start(t, fakeserver.Config{Fault: fakeserver.Stall})
	var lines []string
	p := profileEndpointForTest(srv.BaseURL(), &lines)
	_, err := p.Probe(t.Context(), profileBurst())
	require.Error(t, err)
	require.NotEmpty(t, lines, "at least one line while the burst waited for its stall timeout")
	assert.Contains(t, lines[0], "profile: burst of 1 requests (ISL 16, OSL 4, 1 in flight): 0 done after")
}

// Checking --out before the run: an unwritable folder is refused at once, before any
// request (issue 23: only after the whole run).
func TestOutCheckedBeforeTheRun(t *testing.T) {
	if os.Getuid() == 0 {
		t.Skip("root writes anywhere")
	}
	ro := filepath.Join(t.TempDir(), "ro")
	require.NoError(t, os.Mkdir(ro, 0o500))
	srv := fakeserver.Start(t, fakeserver.Config{})
	for _, cmd := range [][]string{
		{"run", "--endpoint", srv.BaseURL(), "--requests", "2", "--count", "1"},
		{"ab", "--a", srv.BaseURL(), "--b", srv.BaseURL(), "--requests", "2", "--count", "1"},
		{"profile", "--endpoint", srv.BaseURL()},
		{"router", "--endpoint", "kv=" + srv.BaseURL()},
	} {
		t.Run(cmd[0], func(t *testing.T) {
			before := srv.Requests()
			code, _, stderr := runCmd(t, append(cmd, "--out", filepath.Join(ro, "sub"))...)
			assert.Equal(t, 2, code, stderr)
			assert.Contains(t, stderr, "--out "+filepath.Join(ro, "sub")+": cannot write the results there")
			assert.Equal(t, before, srv.Requests(), "nothing sent")
		})
	}
	f := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(f, nil, 0o644))
	code, _, stderr := runCmd(t, "run", "--endpoint", srv.BaseURL(), "--out", filepath.Join(f, "x"))
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "is not a folder")
}

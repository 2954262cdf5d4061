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

// Issue 23: --alpha NaN and --threshold NaN fell back to the defaults silently (a NaN
// passes every "out of range" check); every number flag of every command refuses NaN and
// infinities now.
func TestNaNFlagsRefused(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"history", "--alpha", "NaN", "x.jsonl"},
		{"history", "--min-change", "Inf", "x.jsonl"},
		{"compare", "--alpha", "NaN", td + "base.txt", td + "base.txt"},
		{"compare", "--threshold", "NaN", td + "base.txt", td + "base.txt"},
		{"report", "--alpha", "nan", dir},
		{"report", "--threshold", "-Inf", dir},
		{"estimate", "--config", capacityTD + "llama-3-8b.json", "--gpu-utilization", "NaN"},
		{"run", "--endpoint", "http://127.0.0.1:1", "--rate", "+Inf"},
		{"mock", "--noise", "NaN"},
	} {
		code, stdout, stderr := runCmd(t, args...)
		assert.Equal(t, 2, code, "%q: %s%s", args, stdout, stderr)
		assert.Contains(t, stderr, "want a finite number", "%q", args)
	}
}

// Issue 23: perfgate estimate panicked (a division by zero) on ISL and OSL near
// MaxInt64, and answered nonsense for an absurd --tp or --gpu-memory.
func TestEstimateBadInputs(t *testing.T) {
	cfg := capacityTD + "llama-3-8b.json"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--isl", "9223372036854775807", "--osl", "9223372036854775807"}, "isl 9223372036854775807: want 0 to 1099511627776 tokens"},
		{[]string{"--tp", "1000000000"}, "tp 1000000000: want a number of GPUs that divides num_attention_heads 32"},
		{[]string{"--gpu-memory", "1e30GiB"}, `--gpu-memory: memory size "1e30GiB": over the limit of 1 PiB`},
		{[]string{"--block-size", "9223372036854775807"}, "block-size 9223372036854775807"},
	} {
		code, _, stderr := runCmd(t, append([]string{"estimate", "--config", cfg}, tc.args...)...)
		assert.Equal(t, 2, code, "%q: %s", tc.args, stderr)
		assert.Contains(t, stderr, tc.want)
	}
	f128 := filepath.Join(t.TempDir(), "config.json")
	require.NoError(t, os.WriteFile(f128, []byte(`{"num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 8, "vocab_size": 10, "intermediate_size": 8, "torch_dtype": "float128"}`), 0o644))
	code, _, stderr := runCmd(t, "estimate", "--config", f128)
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, `torch_dtype "float128": not a data type the estimate knows`)
	code, _, stderr = runCmd(t, "estimate", "--config", f128, "--dtype", "bf16", "--kv-dtype", "bf16")
	assert.Equal(t, 0, code, stderr)
	if _, err := os.Stat("/dev/zero"); err == nil {
		code, _, stderr = runCmd(t, "estimate", "--config", "/dev/zero")
		assert.Equal(t, 2, code)
		assert.Contains(t, stderr, "read model config: /dev/zero: over the size limit of 4 MiB")
	}
}

// Issue 23: --name kept ESC characters in names and file names, and distinct names shared
// a file ("a b" and "a\nb" both became a_b.txt). Such names are refused before anything is
// sent, naming the flag; distinct accepted names write distinct files.
func TestRunCaseNames(t *testing.T) {
	srv := fakeserver.Start(t, fakeserver.Config{})
	out := t.TempDir()
	for _, tc := range []struct{ name, want string }{
		{"a b", `--name "a b": a case name names files and benchmark lines: no white space, control or formatting characters`},
		{"a\nb", `--name "a\nb": a case name names files`},
		{"x\x1b[2Jy", `--name "x\x1b[2Jy"`},
		{"rtl\u202egnp", `--name "rtl\u202egnp"`},
		{"a/b", `--name "a/b": no '/' in the name of a command's case`},
		{"a:b", `--name "a:b": no ':'`},
		{`a*b`, `--name "a*b": a case name names files and benchmark lines: none of \*?"<>|%`},
	} {
		before := srv.Requests()
		code, _, stderr := runCmd(t, "run", "--endpoint", srv.BaseURL(), "--requests", "1", "--count", "1", "--out", out, "--name", tc.name)
		assert.Equal(t, 2, code, "%q: %s", tc.name, stderr)
		assert.Contains(t, stderr, tc.want)
		assertTerminalSafe(t, stderr)
		assert.Equal(t, before, srv.Requests(), "refused before anything was sent")
	}
	for _, name := range []string{"a_b", "a-b", "a.b", "a+b", "Perf模型"} {
		code, _, stderr := runCmd(t, "run", "--endpoint", srv.BaseURL(), "--requests", "1", "--concurrency", "1", "--count", "1", "--warmup", "-1", "--out", out, "--name", name, "-q")
		require.Equal(t, 0, code, "%q: %s", name, stderr)
	}
	entries, err := os.ReadDir(out)
	require.NoError(t, err)
	var txt []string
	for _, e := range entries {
		if n := e.Name(); strings.HasSuffix(n, ".txt") {
			txt = append(txt, n)
		}
	}
	assert.ElementsMatch(t, []string{"a_b.txt", "a-b.txt", "a.b.txt", "a+b.txt", "Perf模型.txt"}, txt, "one file per name")
}

// A simulator profile is read up to 1 MiB: /dev/zero as --profile is refused at once.
func TestMockProfileBounded(t *testing.T) {
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip("no /dev/zero")
	}
	code, _, stderr := runCmd(t, "mock", "--profile", "/dev/zero")
	assert.NotEqual(t, 0, code)
	assert.Contains(t, stderr, "/dev/zero: over the size limit of 1 MiB")
}

package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
)

// runTraceCmd runs perfgate with args and returns its exit status, stdout and stderr.
func runTraceCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(t.Context(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestTraceStatsJSON(t *testing.T) {
	p := filepath.Join(t.TempDir(), "t.jsonl")
	// 3 requests; the second reuses the first's whole 512-token block: 512 of 1624 tokens.
	content := `{"timestamp": 0, "input_length": 600, "output_length": 10, "hash_ids": [1, 2]}
{"timestamp": 1000, "input_length": 524, "output_length": 20, "hash_ids": [1, 3]}
{"timestamp": 2000, "input_length": 500, "output_length": 30, "hash_ids": [4]}
`
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runTraceCmd(t, "trace", "stats", p, "--format", "json", "--cache-blocks", "1")
	if code != 0 {
		t.Fatalf("exit %d, stderr %s", code, errs)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("bad JSON %q: %v", out, err)
	}
	want := map[string]float64{
		"requests": 3, "duration_s": 2, "isl_mean": 1624.0 / 3, "osl_mean": 20,
		"prefix_hit_ratio": 512.0 / 1624, "lru_prefix_hit_ratio": 0, "cache_blocks": 1,
	}
	for k, v := range want {
		g, ok := got[k].(float64)
		if !ok && v != 0 {
			t.Errorf("%s missing in %s", k, out)
			continue
		}
		if math.Abs(g-v) > 1e-9 {
			t.Errorf("%s = %v, want %v", k, g, v)
		}
	}
	if got["format"] != "mooncake" {
		t.Errorf("format = %v", got["format"])
	}
	// The engine view at 16-token blocks: the second prompt's first 512 tokens are cached,
	// the others nothing.
	code, out, errs = runTraceCmd(t, "trace", "stats", p, "--format", "json", "--block-size", "16")
	if code != 0 {
		t.Fatalf("exit %d, stderr %s", code, errs)
	}
	got = nil
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if r := got["prefix_hit_ratio"].(float64); math.Abs(r-512.0/1624) > 1e-9 || got["block_size"].(float64) != 16 {
		t.Errorf("engine view: ratio %v, block size %v", r, got["block_size"])
	}
}

func TestTraceStatsText(t *testing.T) {
	p := filepath.Join(t.TempDir(), "t.csv")
	content := "TIMESTAMP,ContextTokens,GeneratedTokens\r\n2023-11-16 18:15:46.6805900,374,44\r\nbad,1,2\r\n2023-11-16 18:15:50.6805900,396,109"
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errs := runTraceCmd(t, "trace", "stats", p)
	if code != 1 || !strings.Contains(errs, p+":3: TIMESTAMP:") {
		t.Fatalf("strict: exit %d, stderr %q; want 1 and the bad line named", code, errs)
	}
	code, out, errs := runTraceCmd(t, "trace", "stats", "--lenient", p)
	if code != 0 {
		t.Fatalf("lenient: exit %d, stderr %s", code, errs)
	}
	for _, s := range []string{"requests          2", "(azure)", "skipped           1 bad rows", "duration          4.0 s", "n/a"} {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q:\n%s", s, out)
		}
	}
	if !strings.Contains(errs, "skip: ") {
		t.Errorf("stderr lacks the skipped row: %q", errs)
	}
}

func TestTraceUsage(t *testing.T) {
	if code, _, _ := runTraceCmd(t, "trace"); code != 2 {
		t.Errorf("no subcommand: exit %d, want 2", code)
	}
	if code, _, _ := runTraceCmd(t, "trace", "nope"); code != 2 {
		t.Errorf("unknown subcommand: exit %d, want 2", code)
	}
	if code, out, _ := runTraceCmd(t, "trace", "--help"); code != 0 || !strings.Contains(out, "perfgate trace stats FILE") {
		t.Errorf("help: exit %d, output %q", code, out)
	}
	if code, _, _ := runTraceCmd(t, "trace", "stats"); code != 2 {
		t.Errorf("no file: exit %d, want 2", code)
	}
	if code, _, _ := runTraceCmd(t, "trace", "stats", "x", "--format", "xml"); code != 2 {
		t.Errorf("bad format: exit %d, want 2", code)
	}
	if code, _, errs := runTraceCmd(t, "trace", "stats", filepath.Join(t.TempDir(), "none.jsonl")); code != 1 || !strings.Contains(errs, "no such file") {
		t.Errorf("missing file: exit %d, stderr %q", code, errs)
	}
}

// TestTraceStatsRealTraces checks the figures the public traces are known for.
func TestTraceStatsRealTraces(t *testing.T) {
	dir := filepath.Join("..", "..", "..", "shared", "traces")
	for _, tc := range []struct {
		file     string
		requests float64
		ratio    float64
	}{
		{"conversation_trace.jsonl", 12031, 0.374},
		{"synthetic_trace.jsonl", 3993, 0.651},
		{"AzureLLMInferenceTrace_conv.csv", 19366, 0},
		{"AzureLLMInferenceTrace_code.csv", 8819, 0},
	} {
		t.Run(tc.file, func(t *testing.T) {
			p := filepath.Join(dir, tc.file)
			if _, err := os.Stat(p); err != nil {
				t.Skipf("real trace not available: %v", err)
			}
			code, out, errs := runTraceCmd(t, "trace", "stats", "--format", "json", p)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			var got struct {
				Requests float64 `json:"requests"`
				Ratio    float64 `json:"prefix_hit_ratio"`
			}
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatal(err)
			}
			if got.Requests != tc.requests || math.Abs(got.Ratio-tc.ratio) > 0.0005 {
				t.Errorf("requests %v, ratio %.4f; want %v, %.3f", got.Requests, got.Ratio, tc.requests, tc.ratio)
			}
		})
	}
}

func TestTraceSynth(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.csv")
	content := "TIMESTAMP,ContextTokens,GeneratedTokens\r\n" +
		"2023-11-16 18:00:00.0,1000,10\r\n2023-11-16 18:00:01.0,2000,20\r\n" +
		"2023-11-16 18:00:02.0,3000,30\r\n2023-11-16 18:00:03.0,4000,40"
	if err := os.WriteFile(src, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.jsonl")
	code, _, errs := runTraceCmd(t, "trace", "synth", src, "-o", out, "--end", "3s", "--speedup", "2", "--prompt-len", "0.5")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[2], `{"timestamp": 1000, "input_length": 1500, "output_length": 30, "hash_ids": [`) {
		t.Fatalf("output:\n%s", b)
	}
	code, stdout, _ := runTraceCmd(t, "trace", "stats", out, "--format", "json")
	if code != 0 || !strings.Contains(stdout, `"requests": 3`) {
		t.Errorf("stats of the output: exit %d\n%s", code, stdout)
	}
	if code, _, _ := runTraceCmd(t, "trace", "synth", src, "--prefix-roots", "-1"); code != 2 {
		t.Errorf("bad flag value: exit %d, want 2", code)
	}
}

// TestTraceSynthRefusesItsInput checks that synth never writes over the trace it reads,
// by name, through a symlink or through a hard link, and leaves it intact.
func TestTraceSynthRefusesItsInput(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.jsonl")
	content := `{"timestamp": 0, "input_length": 600, "output_length": 10, "hash_ids": [1, 2]}` + "\n"
	if err := os.WriteFile(src, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	outs := []string{src, filepath.Join(dir, ".", "src.jsonl")}
	if err := os.Symlink(src, filepath.Join(dir, "sym.jsonl")); err == nil {
		outs = append(outs, filepath.Join(dir, "sym.jsonl"))
	} else {
		t.Logf("no symlink case: %v", err)
	}
	if err := os.Link(src, filepath.Join(dir, "hard.jsonl")); err == nil {
		outs = append(outs, filepath.Join(dir, "hard.jsonl"))
	} else {
		t.Logf("no hard link case: %v", err)
	}
	for _, out := range outs {
		code, _, errs := runTraceCmd(t, "trace", "synth", src, "-o", out)
		want := "perfgate trace: -o " + out + " is the input trace " + src + ": write to another file\n"
		if code != 2 || errs != want {
			t.Errorf("-o %s: exit %d, stderr %q; want 2, %q", out, code, errs, want)
		}
		if b, err := os.ReadFile(src); err != nil || string(b) != content {
			t.Fatalf("-o %s: the input is now %q (%v)", out, b, err)
		}
	}
}

// TestTraceSynthKeepsOutputOnFailure checks that a synth that fails (a bad row, nothing left
// to write) leaves an existing output file as it was, with no temporary file beside it, and
// that an output symlink is written through.
func TestTraceSynthKeepsOutputOnFailure(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.jsonl")
	good := filepath.Join(dir, "good.jsonl")
	row := `{"timestamp": 0, "input_length": 600, "output_length": 10, "hash_ids": [1, 2]}` + "\n"
	if err := os.WriteFile(bad, []byte(row+`{"timestamp": 1, "input_length": 10, "output_length": 1000000000000000, "hash_ids": [3]}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(good, []byte(row), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.jsonl")
	const precious = "an earlier synth's output\n"
	if err := os.WriteFile(out, []byte(precious), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"trace", "synth", bad, "-o", out},
			"perfgate trace: read mooncake trace: " + bad + ":2: output_length: must be in [1, 16777216] (fixtures.MaxTokens), got 1000000000000000\n"},
		{[]string{"trace", "synth", good, "-o", out, "--start", "1h"},
			"perfgate trace: trace " + good + " has no requests left to write (after --start, --end, --limit, --sample and the length filters)\n"},
	} {
		code, _, errs := runTraceCmd(t, tc.args...)
		if code != 1 || errs != tc.want {
			t.Errorf("%v: exit %d, stderr %q; want 1, %q", tc.args, code, errs, tc.want)
		}
		if b, err := os.ReadFile(out); err != nil || string(b) != precious {
			t.Fatalf("%v: the output is now %q (%v)", tc.args, b, err)
		}
	}
	// An interrupted synth (Ctrl-C) leaves it too.
	long := filepath.Join(dir, "long.jsonl")
	var sb strings.Builder
	for i := range 5000 {
		fmt.Fprintf(&sb, `{"timestamp": %d, "input_length": 10, "output_length": 1, "hash_ids": [%d]}`+"\n", i, i)
	}
	if err := os.WriteFile(long, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	var stdout, stderr bytes.Buffer
	if code := run(ctx, []string{"trace", "synth", long, "-o", out}, &stdout, &stderr); code != 130 || stderr.String() != "perfgate trace: context canceled\n" {
		t.Errorf("interrupted: exit %d, stderr %q", code, stderr.String())
	}
	if b, err := os.ReadFile(out); err != nil || string(b) != precious {
		t.Fatalf("interrupted: the output is now %q (%v)", b, err)
	}
	os.Remove(long)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{"bad.jsonl", "good.jsonl", "out.jsonl"}; !slices.Equal(names, want) {
		t.Errorf("files left: %v, want %v", names, want)
	}
	// A symlinked output is written through: the link stays, its target changes.
	link := filepath.Join(dir, "link.jsonl")
	if err := os.Symlink(out, link); err != nil {
		t.Skipf("no symlinks here: %v", err)
	}
	if code, _, errs := runTraceCmd(t, "trace", "synth", good, "-o", link); code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link was replaced: %v, %v", fi, err)
	}
	if b, _ := os.ReadFile(out); !strings.HasPrefix(string(b), `{"timestamp": 0, "input_length": 600`) {
		t.Errorf("the link's target holds %q", b)
	}
}

// TestTraceStatsEmpty checks that a trace with no requests is an error, saying why.
func TestTraceStatsEmpty(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.jsonl")
	bad := filepath.Join(dir, "bad.csv")
	os.WriteFile(empty, nil, 0o644)
	os.WriteFile(bad, []byte("TIMESTAMP,ContextTokens,GeneratedTokens\nx,1,1\n2023-11-16 18:15:46,0,1\n"), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"trace", "stats", empty}, "perfgate trace: trace " + empty + " has no requests (the file is empty)\n"},
		{[]string{"trace", "stats", "--type", "mooncake", empty}, "perfgate trace: trace " + empty + " has no requests\n"},
		{[]string{"trace", "stats", "--type", "mooncake", "--block-size", "16", empty}, "perfgate trace: trace " + empty + " has no requests\n"},
		{[]string{"trace", "stats", "--lenient", bad}, "skip: " + bad + ":2: TIMESTAMP: want a time like 2023-11-16 18:17:03.9799600, got \"x\"\n" +
			"skip: " + bad + ":3: ContextTokens: must be in [1, 16777216] (fixtures.MaxTokens), got 0\n" +
			"perfgate trace: trace " + bad + " has no requests (2 bad rows were skipped)\n"},
	} {
		code, out, errs := runTraceCmd(t, tc.args...)
		if code != 1 || out != "" || errs != tc.want {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 1 and %q", tc.args, code, out, errs, tc.want)
		}
	}
}

// TestTraceStatsCompressed checks that a gzip-compressed trace reads as the trace itself.
func TestTraceStatsCompressed(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "t.jsonl")
	gz := filepath.Join(dir, "t.jsonl.gz")
	content := `{"timestamp": 0, "input_length": 600, "output_length": 10, "hash_ids": [1, 2]}
{"timestamp": 1000, "input_length": 524, "output_length": 20, "hash_ids": [1, 3]}
`
	os.WriteFile(plain, []byte(content), 0o644)
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(content))
	zw.Close()
	os.WriteFile(gz, b.Bytes(), 0o644)
	_, want, _ := runTraceCmd(t, "trace", "stats", plain)
	code, got, errs := runTraceCmd(t, "trace", "stats", gz)
	if code != 0 || strings.Replace(got, "t.jsonl.gz", "t.jsonl", 1) != want {
		t.Errorf("exit %d, stderr %q, stats\n%s\nwant\n%s", code, errs, got, want)
	}
}

// TestRunRefusesBadWorkloads checks that perfgate run refuses a length no model serves or a
// trace with no requests before it sends anything, and writes no result.
func TestRunRefusesBadWorkloads(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/models" { // the model check may come first
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"object": "list", "data": [{"id": "m", "object": "model"}]}`)
			return
		}
		hits.Add(1)
		http.Error(w, "not expected", http.StatusTeapot)
	}))
	defer srv.Close()
	dir := t.TempDir()
	huge := filepath.Join(dir, "huge.jsonl")
	os.WriteFile(huge, []byte(`{"timestamp": 0, "input_length": 10, "output_length": 1000000000000000, "hash_ids": [1]}`+"\n"), 0o644)
	empty := filepath.Join(dir, "empty.jsonl")
	os.WriteFile(empty, nil, 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--osl", "1000000000000000"}, "perfgate run: --osl 1000000000000000: synthetic: OSL must be at most 16777216 tokens (fixtures.MaxTokens), got 1000000000000000\n"},
		{[]string{"--isl", "1000000000"}, "perfgate run: --isl 1000000000: synthetic: ISL must be at most 16777216 tokens (fixtures.MaxTokens), got 1000000000\n"},
		{[]string{"--trace", huge}, "perfgate run: workload fingerprint: read mooncake trace: " + huge + ":1: output_length: must be in [1, 16777216] (fixtures.MaxTokens), got 1000000000000000\n"},
		{[]string{"--trace", huge, "--lenient"}, "perfgate run: workload fingerprint: trace " + huge + " has no requests (1 bad row was skipped)\n"},
		{[]string{"--trace", empty}, "perfgate run: trace " + empty + " has no requests (the file is empty)\n"},
		{[]string{"--trace", empty, "--format-trace", "mooncake"}, "perfgate run: workload fingerprint: trace " + empty + " has no requests\n"},
	} {
		out := filepath.Join(dir, "out")
		args := append([]string{"run", "--endpoint", srv.URL, "--model", "m", "--count", "1", "--out", out}, tc.args...)
		code, _, errs := runTraceCmd(t, args...)
		if code != 2 || errs != tc.want {
			t.Errorf("%v: exit %d, stderr %q; want 2, %q", tc.args, code, errs, tc.want)
		}
		if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%v: %s exists (%v): nothing should be written", tc.args, out, err)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the server got %d requests besides /v1/models", n)
	}
}

package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
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

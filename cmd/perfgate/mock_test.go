package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/perfgate/perfgate/backends/mock"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestMockArgsVLLMLaunchLine(t *testing.T) {
	var warn bytes.Buffer
	o, err := parseMockArgs(strings.Fields(
		"meta-llama/Llama-3.1-8B --tensor-parallel-size 2 --gpu-memory-utilization=0.9 --enable-prompt-tokens-details "+
			"--port=9000 --host 127.0.0.1 --max_num_seqs 32 --max-num-batched-tokens 4k --block-size 32 "+
			"--num-gpu-blocks-override 1000 --no-enable-prefix-caching --max-model-len 16K --seed 7 "+
			"--served-model-name llama --speedup-ratio 2.5 --profile linear --noise 0.1 --startup-delay 2s "+
			"--fault-error-rate 0.01 --fault-stall 3s --disable-log-requests"), false, &warn)
	if err != nil {
		t.Fatal(err)
	}
	c := o.cfg
	if o.port != 9000 || o.host != "127.0.0.1" || c.Model != "llama" || c.MaxNumSeqs != 32 || c.MaxNumBatchedTokens != 4000 ||
		c.BlockSize != 32 || c.NumGPUBlocks != 1000 || !c.DisablePrefixCaching || c.MaxModelLen != 16384 || c.Seed != 7 ||
		c.SpeedupRatio != 2.5 || c.Profile.Name != "linear" || c.Noise != 0.1 || c.StartupDelay != 2*time.Second ||
		c.Faults.ErrorRate != 0.01 || c.Faults.Stall != 3*time.Second {
		t.Fatalf("options %+v", o)
	}
	for _, f := range []string{"tensor-parallel-size", "gpu-memory-utilization", "enable-prompt-tokens-details", "disable-log-requests"} {
		if !strings.Contains(warn.String(), "--"+f+" is not modelled") {
			t.Errorf("no warning for --%s in %q", f, warn.String())
		}
	}
	if strings.Count(warn.String(), "\n") != 4 {
		t.Errorf("warnings: %q", warn.String())
	}
}

func TestMockArgsErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--port"},
		{"--max-num-seqs", "many"},
		{"--profile", filepath.Join(t.TempDir(), "missing.json")},
		{"--enable-prefix-caching=maybe"},
		{"m", "stray"},
		{"--trace", "x"}, // replay only
	} {
		if _, err := parseMockArgs(args, false, io.Discard); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
	code, out, _ := runTraceCmd(t, "mock", "--block-size", "-3")
	if code != 2 || out != "" {
		t.Errorf("bad config: exit %d", code)
	}
	code, out, _ = runTraceCmd(t, "mock", "-h")
	if code != 0 || !strings.Contains(out, "--num-gpu-blocks-override N") {
		t.Errorf("help: exit %d, %q", code, out)
	}
}

// startMockCmd runs `perfgate mock args...` until the test ends and returns its base URL.
func startMockCmd(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		code := run(ctx, append([]string{"mock"}, args...), io.Discard, pw)
		pw.Close()
		done <- code
	}()
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		re := regexp.MustCompile(`on http://\S+:(\d+)`)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addr <- "http://127.0.0.1:" + m[1]
			}
		}
		close(addr)
	}()
	url, ok := <-addr
	if !ok {
		cancel()
		t.Fatalf("perfgate mock exited %d without serving", <-done)
	}
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("perfgate mock exit %d", code)
		}
		for range addr {
		}
	})
	return url
}

// The same 512-token prompt twice through `perfgate mock --block-size 16`: the second
// response reports cached_tokens 496 and vllm:prefix_cache_hits_total grows by 496.
func TestMockServeSamePromptTwice(t *testing.T) {
	url := startMockCmd(t, "sim-8b", "--port", "0", "--host", "127.0.0.1", "--block-size", "16", "--speedup-ratio", "10")
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	toks := make([]string, 512)
	for i := range toks {
		toks[i] = strconv.Itoa(1000 + i*37%30000)
	}
	body := `{"model":"sim-8b","prompt":[` + strings.Join(toks, ",") + `],"max_tokens":4,"stream":true,"stream_options":{"include_usage":true}}`
	hits := func() float64 {
		resp, err := c.Get(url + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), `vllm:prefix_cache_hits_total{model_name="sim-8b"} `); ok {
				f, _ := strconv.ParseFloat(v, 64)
				return f
			}
		}
		t.Fatal("no vllm:prefix_cache_hits_total")
		return 0
	}
	var cached []int
	var hitv []float64
	for range 2 {
		resp, err := c.Post(url+"/v1/completions", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		events := strings.Split(strings.TrimSpace(string(b)), "\n\n")
		if len(events) != 6 || events[5] != "data: [DONE]" {
			t.Fatalf("stream %q", b)
		}
		var u struct {
			Usage struct {
				Details struct {
					Cached int `json:"cached_tokens"`
				} `json:"prompt_tokens_details"`
			} `json:"usage"`
		}
		if err := json.Unmarshal([]byte(strings.TrimPrefix(events[4], "data: ")), &u); err != nil {
			t.Fatal(err)
		}
		cached = append(cached, u.Usage.Details.Cached)
		hitv = append(hitv, hits())
	}
	if cached[0] != 0 || cached[1] != 496 || hitv[0] != 0 || hitv[1] != 496 {
		t.Fatalf("cached tokens %v, prefix_cache_hits_total %v", cached, hitv)
	}
}

func writeMooncake(t *testing.T, rows ...string) string {
	p := filepath.Join(t.TempDir(), "trace.jsonl")
	if err := os.WriteFile(p, []byte(strings.Join(rows, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestMockReplay(t *testing.T) {
	// Request 1 shares request 0's first 512-token block: 512 of 1624 prompt tokens hit.
	p := writeMooncake(t,
		`{"timestamp": 0, "input_length": 600, "output_length": 10, "hash_ids": [1, 2]}`,
		`{"timestamp": 5000, "input_length": 524, "output_length": 20, "hash_ids": [1, 3]}`,
		`{"timestamp": 6000, "input_length": 500, "output_length": 30, "hash_ids": [4]}`)
	reqs := filepath.Join(t.TempDir(), "req.jsonl")
	code, out, errs := runTraceCmd(t, "mock", "replay", "--trace", p, "--requests", reqs, "--block-size", "16")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if want := fmt.Sprintf("hit ratio    %.2f%%", 100*512.0/1624); !strings.Contains(out, want) || !strings.Contains(out, "requests     3 (0 rejected)") {
		t.Fatalf("output lacks %q:\n%s", want, out)
	}
	b, err := os.ReadFile(reqs)
	if err != nil {
		t.Fatal(err)
	}
	var recs []replayRecord
	for line := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
		var r replayRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	if len(recs) != 3 || recs[1].CachedTokens != 512 || recs[1].ArrivalMS != 5000 || recs[2].OutputTokens != 30 {
		t.Fatalf("records %+v", recs)
	}
	// TTFT of a lone request is the profile's prefill time of its uncached tokens.
	if want := ms(mock.DefaultProfile().PrefillTime(524 - 512)); recs[1].TTFTMS != want || recs[1].QueueMS != 0 {
		t.Errorf("TTFT %v ms, want %v", recs[1].TTFTMS, want)
	}
	// With --requests -, stdout is the records and the summary goes to stderr.
	code, out, errs = runTraceCmd(t, "mock", "replay", p, "--requests", "-")
	if code != 0 || strings.Count(out, "\n") != 3 || !strings.Contains(errs, "hit ratio") {
		t.Fatalf("--requests -: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if code, _, _ := runTraceCmd(t, "mock", "replay"); code == 0 {
		t.Error("replay without --trace succeeded")
	}
}

// `perfgate mock replay` on the shared conversation trace with an unlimited cache reports
// the trace's 37.4% prefix hit ratio.
func TestMockReplayConversationTrace(t *testing.T) {
	const trace = "../../../shared/traces/conversation_trace.jsonl"
	if _, err := os.Stat(trace); err != nil {
		t.Skipf("needs the shared traces (../shared/traces next to the checkout): %v", err)
	}
	if testing.Short() {
		t.Skip("replays 12,031 requests; skipped with -short")
	}
	// Block size 512 (the trace's own) keeps the run to a few seconds under -race; the
	// backends/mock tests also check block size 16.
	code, out, errs := runTraceCmd(t, "mock", "replay", "--trace", trace, "--unlimited-kv-cache", "--block-size", "512", "--speedup-ratio", "1000")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	m := regexp.MustCompile(`hit ratio\s+([0-9.]+)%`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no hit ratio in\n%s", out)
	}
	if hr, _ := strconv.ParseFloat(m[1], 64); hr < 36.9 || hr > 37.9 {
		t.Fatalf("hit ratio %v%%, want 37.4 ± 0.5\n%s", hr, out)
	}
	t.Log(out)
}

func TestBaseURLIsPastable(t *testing.T) {
	for _, tc := range []struct {
		addr net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.IPv4zero, Port: 8000}, "http://127.0.0.1:8000 (all interfaces)"},
		{&net.TCPAddr{IP: net.IPv6unspecified, Port: 8000}, "http://[::1]:8000 (all interfaces)"},
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9000}, "http://127.0.0.1:9000"},
		{&net.TCPAddr{IP: net.ParseIP("fe80::1"), Port: 9000}, "http://[fe80::1]:9000"},
	} {
		if got := baseURL(tc.addr); got != tc.want {
			t.Errorf("baseURL(%v) = %q, want %q", tc.addr, got, tc.want)
		}
	}
}

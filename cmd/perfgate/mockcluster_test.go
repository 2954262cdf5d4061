package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/perfgate/perfgate/internal/golden"
)

// The cluster replay's table, for every policy, on a small trace of six shared prefixes
// (testdata/cluster-trace.jsonl), byte for byte: it is a deterministic simulation.
func TestMockClusterReplayGolden(t *testing.T) {
	recs := filepath.Join(t.TempDir(), "req.jsonl")
	code, out, errs := runTraceCmd(t, "mock", "replay", "--trace", "testdata/cluster-trace.jsonl", "--workers", "4",
		"--router", "kv,round-robin,random,least-loaded", "--num-gpu-blocks", "1024", "--trace-speedup", "2", "--requests", recs)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	golden.Check(t, "mock-cluster-replay", []byte(out))
	if strings.Count(errs, "240 requests simulated") != 4 {
		t.Errorf("stderr %q", errs)
	}
	b, err := os.ReadFile(recs)
	if err != nil {
		t.Fatal(err)
	}
	perPolicy := map[string]int{}
	workers := map[int]bool{}
	for line := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
		var r clusterRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatal(err)
		}
		perPolicy[r.Policy]++
		workers[r.Worker] = true
	}
	if len(perPolicy) != 4 || perPolicy["kv"] != 240 || len(workers) != 4 {
		t.Errorf("records per policy %v, workers %v", perPolicy, workers)
	}
}

func TestMockClusterArgs(t *testing.T) {
	for _, args := range [][]string{
		{"mock", "--router", "sticky"},
		{"mock", "--workers", "2", "--router", "kv,round-robin"}, // serving takes one policy
		{"mock", "--workers", "100"},
		{"mock", "replay", "--trace", "testdata/cluster-trace.jsonl", "--router", "kv", "--kv-overlap-score-weight", "-1"},
	} {
		if code, _, _ := runTraceCmd(t, args...); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
	o, err := parseMockArgs([]string{"--workers", "4", "--router-mode", "kv", "--kv-overlap-score-weight", "2", "--router-temperature", "0.5",
		"--trace-speedup", "3", "--prefix-len-multiplier", "1.5", "--prefix-root-multiplier", "2", "--prompt-len-multiplier", "0.5", "--max-isl", "8k"}, true, io.Discard)
	c := o.cluster
	if err != nil || c.workers != 4 || len(c.policies) != 1 || c.policies[0] != "kv" || c.router.OverlapWeight != 2 || c.router.Temperature != 0.5 ||
		c.synth.Speedup != 3 || c.synth.PrefixLen != 1.5 || c.synth.PrefixRoots != 2 || c.synth.PromptLen != 0.5 || c.maxISL != 8000 {
		t.Errorf("options %+v, %v", c, err)
	}
}

// `perfgate mock --workers 2 --router kv` serves a cluster: a repeated prompt hits the
// cache of the worker it went to the first time.
func TestMockClusterServe(t *testing.T) {
	url := startMockCmd(t, "sim", "--port", "0", "--host", "127.0.0.1", "--workers", "2", "--router", "kv", "--speedup-ratio", "100")
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	toks := make([]string, 256)
	for i := range toks {
		toks[i] = strconv.Itoa(500 + i)
	}
	body := `{"prompt":[` + strings.Join(toks, ",") + `],"max_tokens":2}`
	var cached []int
	for range 3 {
		resp, err := c.Post(url+"/v1/completions", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		var u struct {
			Usage struct {
				Details struct {
					Cached int `json:"cached_tokens"`
				} `json:"prompt_tokens_details"`
			} `json:"usage"`
		}
		err = json.NewDecoder(resp.Body).Decode(&u)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		cached = append(cached, u.Usage.Details.Cached)
	}
	if cached[0] != 0 || cached[1] != 240 || cached[2] != 240 {
		t.Fatalf("cached tokens %v", cached)
	}
	resp, err := c.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	routed := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), `perfgate_router_requests_total{model_name="sim",worker="`); ok {
			if n, _ := strconv.Atoi(v[strings.IndexByte(v, ' ')+1:]); n == 3 {
				routed++
			}
		}
	}
	if routed != 1 {
		t.Errorf("no worker got all 3 requests")
	}
}

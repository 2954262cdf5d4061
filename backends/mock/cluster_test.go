package mock

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// scrape reads a cluster's /metrics into series -> value, the series named with their
// labels as the text format prints them.
func scrape(t *testing.T, c *http.Client, url string) map[string]float64 {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

func cachedTokens(t *testing.T, ev []string) int {
	t.Helper()
	var u struct {
		Usage struct {
			Details struct {
				Cached int `json:"cached_tokens"`
			} `json:"prompt_tokens_details"`
		} `json:"usage"`
	}
	if err := json.Unmarshal([]byte(ev[len(ev)-2]), &u); err != nil {
		t.Fatalf("usage chunk %q: %v", ev[len(ev)-2], err)
	}
	return u.Usage.Details.Cached
}

// Over HTTP, the KV router sends a repeated prompt back to the worker that cached it, and
// /metrics shows the workers' series labelled by worker beside the router's.
func TestClusterKVRoutesToTheCache(t *testing.T) {
	cl := StartCluster(t, ClusterConfig{Workers: 3, Worker: Config{Model: "m", SpeedupRatio: 100}, Router: RouterConfig{Policy: RouteKV}})
	c := client(t)
	toks := make([]string, 512)
	for i := range toks {
		toks[i] = strconv.Itoa(1000 + i)
	}
	body := `{"prompt":[` + strings.Join(toks, ",") + `],"max_tokens":3,"stream":true,"stream_options":{"include_usage":true}}`
	var cached []int
	for range 2 {
		cached = append(cached, cachedTokens(t, stream(t, c, cl.BaseURL()+"/v1/completions", body)))
	}
	if cached[0] != 0 || cached[1] != 496 {
		t.Fatalf("cached tokens %v, want [0 496]", cached)
	}
	m := scrape(t, c, cl.MetricsURL())
	w := -1
	for i := range 3 {
		lab := `{model_name="m",worker="` + strconv.Itoa(i) + `"}`
		if m["perfgate_router_requests_total"+lab] == 2 {
			w = i
		}
		if _, ok := m["vllm:num_requests_running"+lab]; !ok {
			t.Errorf("no vllm:num_requests_running for worker %d", i)
		}
	}
	lab := `{model_name="m",worker="` + strconv.Itoa(w) + `"}`
	if w < 0 || m["vllm:prefix_cache_hits_total"+lab] != 496 || m["perfgate_router_overlap_blocks_total"+lab] != 31 ||
		m["perfgate_router_prompt_blocks_total"+lab] != 64 || m["perfgate_router_inflight_requests"+lab] != 0 {
		t.Fatalf("worker %d: hits %v, router overlap %v, prompt blocks %v, in flight %v", w, m["vllm:prefix_cache_hits_total"+lab],
			m["perfgate_router_overlap_blocks_total"+lab], m["perfgate_router_prompt_blocks_total"+lab], m["perfgate_router_inflight_requests"+lab])
	}
	if m[`perfgate_router_kv_events_total{kind="stored",model_name="m"}`] != 32 || m[`perfgate_router_indexed_blocks{model_name="m"}`] != 32 {
		t.Errorf("router events: stored %v, indexed %v", m[`perfgate_router_kv_events_total{kind="stored",model_name="m"}`], m[`perfgate_router_indexed_blocks{model_name="m"}`])
	}
	// A reset empties every worker's cache; the router hears of it through their events.
	resp, err := c.Post(cl.BaseURL()+"/reset_prefix_cache", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := cachedTokens(t, stream(t, c, cl.BaseURL()+"/v1/completions", body)); got != 0 {
		t.Errorf("after reset: %d cached", got)
	}
	m = scrape(t, c, cl.MetricsURL())
	if m[`perfgate_router_kv_events_total{kind="removed",model_name="m"}`] != 32 {
		t.Errorf("removed events: %v", m[`perfgate_router_kv_events_total{kind="removed",model_name="m"}`])
	}
	if d := cl.Describe(); d["workers"] != "3" || d["router"] != "kv" || d["backend"] != "mock" {
		t.Errorf("Describe %v", d)
	}
}

func TestClusterRoundRobinAndErrors(t *testing.T) {
	cl := StartCluster(t, ClusterConfig{Workers: 2, Worker: Config{SpeedupRatio: 100}})
	c := client(t)
	for range 4 {
		stream(t, c, cl.BaseURL()+"/v1/completions", `{"prompt":[1,2,3],"max_tokens":2,"stream":true}`)
	}
	st := cl.RouterStats()
	if len(st) != 2 || st[0].Routed != 2 || st[1].Routed != 2 {
		t.Errorf("router stats %+v", st)
	}
	for _, tc := range []struct {
		path, body string
		status     int
	}{
		{"/v1/completions", `{"prompt":[1],"max_tokens":0}`, 400},
		{"/v1/completions", `{"model":"other","prompt":[1]}`, 404},
		{"/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}],"max_tokens":2}`, 200},
		{"/nowhere", `{}`, 404},
	} {
		resp, err := c.Post(cl.BaseURL()+tc.path, "application/json", strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s %s: status %d, want %d", tc.path, tc.body, resp.StatusCode, tc.status)
		}
	}
	for _, path := range []string{"/health", "/v1/models"} {
		resp, err := c.Get(cl.BaseURL() + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d", path, resp.StatusCode)
		}
	}
	if _, err := NewCluster(ClusterConfig{Workers: 100}); err == nil {
		t.Error("100 workers accepted")
	}
}

// Closing the cluster with streams in flight ends them (goleak checks the goroutines).
func TestClusterCloseWithStreamsInFlight(t *testing.T) {
	cl, err := NewCluster(ClusterConfig{Workers: 2, Worker: Config{SpeedupRatio: 0.1}})
	if err != nil {
		t.Fatal(err)
	}
	srv := StartCluster(t, ClusterConfig{Workers: 2, Worker: Config{SpeedupRatio: 0.1}})
	c := client(t)
	started := make(chan struct{}, 2)
	done := make(chan struct{}, 2)
	for range 2 {
		go func() {
			defer func() { done <- struct{}{} }()
			resp, err := c.Post(srv.BaseURL()+"/v1/completions", "application/json", strings.NewReader(`{"prompt":[1,2,3],"max_tokens":50,"stream":true}`))
			started <- struct{}{}
			if err == nil {
				resp.Body.Close()
			}
		}()
	}
	<-started
	<-started
	srv.Close()
	<-done
	<-done
	cl.Close() // never served
}

package main

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/perfgate/perfgate/backends/mock"
	"github.com/perfgate/perfgate/internal/golden"
)

// The simulated sweep is deterministic: its table is checked byte for byte.
func TestRouterSweepGolden(t *testing.T) {
	args := []string{"router", "--isl", "2048", "--osl", "8", "--requests", "40", "--prefixes", "4", "--num-gpu-blocks", "512",
		"--ratios", "0.1,0.9", "--concurrency", "2,8", "--policies", "kv,round-robin,random,least-loaded"}
	code, out, errs := runTraceCmd(t, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	golden.Check(t, "router-sweep", []byte(out))
	dir := t.TempDir()
	if code, _, errs := runTraceCmd(t, append(args, "--out", dir)...); code != 0 {
		t.Fatalf("--out: exit %d: %s", code, errs)
	}
	f, err := os.Open(filepath.Join(dir, "router.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil || len(rows) != 1+16 || rows[0][0] != "policy" {
		t.Fatalf("router.csv: %d rows, %v", len(rows), err)
	}
	if png, err := os.ReadFile(filepath.Join(dir, "router.png")); err != nil || string(png[:4]) != "\x89PNG" {
		t.Fatalf("router.png: %v", err)
	}
}

// With --endpoint the same points go over HTTP to running routers.
func TestRouterEndpoints(t *testing.T) {
	kv := mock.StartCluster(t, mock.ClusterConfig{Workers: 2, Worker: mock.Config{SpeedupRatio: 50}, Router: mock.RouterConfig{Policy: mock.RouteKV}})
	rr := mock.StartCluster(t, mock.ClusterConfig{Workers: 2, Worker: mock.Config{SpeedupRatio: 50}})
	code, out, errs := runTraceCmd(t, "router", "--endpoint", "kv="+kv.BaseURL(), "--endpoint", "round-robin="+rr.BaseURL(),
		"--isl", "512", "--osl", "4", "--requests", "12", "--prefixes", "2", "--ratios", "0.5", "--concurrency", "2")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.Contains(lines[1], " kv ") || !strings.Contains(lines[2], "round-robin") || !strings.HasSuffix(lines[1], "1.00x") {
		t.Fatalf("output:\n%s", out)
	}
	if st := kv.RouterStats(); st[0].Routed+st[1].Routed != 12 {
		t.Errorf("kv cluster routed %+v", st)
	}
	for _, args := range [][]string{{"router", "--endpoint", "nourl"}, {"router", "--ratios", "2"}, {"router", "--policies", "sticky"}, {"router", "--concurrency", "0"}} {
		if code, _, _ := runTraceCmd(t, args...); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
}

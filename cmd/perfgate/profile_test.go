package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/perfgate/perfgate/backends/mock"
	"github.com/perfgate/perfgate/cmd/perfgate/internal/profile"
	"github.com/perfgate/perfgate/internal/golden"
)

// --simulate profiles the simulator on the virtual clock: deterministic, checked byte for
// byte, and the written profile loads back into the simulator.
func TestProfileSimulateGolden(t *testing.T) {
	dir := t.TempDir()
	code, out, errs := runTraceCmd(t, "profile", "--simulate", "--num-gpu-blocks", "4096", "--decode-isls", "512,1024", "--out", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	golden.Check(t, "profile-simulate", []byte(strings.ReplaceAll(out, dir, "DIR")))
	p, err := mock.LoadProfile(filepath.Join(dir, "profile.json"))
	if err != nil {
		t.Fatal(err)
	}
	if want := mock.DefaultProfile(); relDiff(p.PrefillMS[1], want.PrefillMS[1]) > 0.01 || relDiff(p.DecodeMS[1], want.DecodeMS[1]) > 0.01 {
		t.Errorf("profile %+v", p)
	}
	for _, f := range []string{"points.json", "profile.png"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
}

func relDiff(a, b float64) float64 {
	if a > b {
		return (a - b) / b
	}
	return (b - a) / b
}

func TestProfileArgs(t *testing.T) {
	for _, args := range [][]string{{"profile"}, {"profile", "--simulate", "--self-test"}, {"profile", "--simulate", "--decode-isls", "x"},
		{"profile", "--simulate", "--profile", "missing.json"}, {"profile", "--simulate", "stray"}} {
		if code, _, _ := runTraceCmd(t, args...); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
	if code, _, errs := runTraceCmd(t, "profile", "--endpoint", "http://127.0.0.1:1", "--prefill-requests", "1"); code != 1 || !strings.Contains(errs, "prefill") {
		t.Errorf("closed port: exit %d, %s", code, errs)
	}
}

// profileEndpointForTest is perfgate profile's endpoint prober, its waiting lines
// collected in lines and said every 200 ms.
func profileEndpointForTest(url string, lines *[]string) profile.Prober {
	var mu sync.Mutex
	return profile.Endpoint(url, profile.EndpointOptions{StallTimeout: time.Second, WaitEvery: 200 * time.Millisecond,
		Waiting: func(format string, args ...any) {
			mu.Lock()
			defer mu.Unlock()
			*lines = append(*lines, fmt.Sprintf(format, args...))
		}})
}

func profileBurst() profile.Burst {
	return profile.Burst{ISL: 16, OSL: 4, Concurrency: 1, Requests: 1, Seed: 1}
}

// Package tracereplay replays a Mooncake-format trace against the simulator and checks
// that the server's prefix cache sees exactly the sharing the trace describes: the
// cached_tokens the server reports match what fixtures.WorkloadStats predicts for the
// engine's block size. Point Path at your own trace (or ../shared/traces/*.jsonl) to
// replay it; TraceTime replays its arrival times.
//
//	go test -v ./examples/tracereplay
package tracereplay

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/perfgate/perfgate/backends/mock"
	"github.com/perfgate/perfgate/fixtures"
	"github.com/perfgate/perfgate/perftest"
)

// writeTrace writes a small Mooncake trace: 60 requests, each starting with one of six
// shared 3-block (1,536-token) prefixes and ending with its own 1 or 2 blocks, the last one
// partial.
func writeTrace(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	next := int64(100)
	for i := range 60 {
		root := int64(i % 6 * 3)
		ids := []int64{root, root + 1, root + 2}
		own := 1 + i%2
		for range own {
			ids = append(ids, next)
			next++
		}
		in := (len(ids)-1)*512 + 1 + (100+7*i)%511
		fmt.Fprintf(&b, `{"timestamp": %d, "input_length": %d, "output_length": 8, "hash_ids": %s}`+"\n",
			10*i, in, strings.Join(strings.Fields(fmt.Sprint(ids)), ", "))
	}
	path := filepath.Join(t.TempDir(), "trace.jsonl")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestTraceReplayHitRatio(t *testing.T) {
	trace := fixtures.Mooncake{Path: writeTrace(t)}
	for _, bs := range []int{16, 64} {
		t.Run(fmt.Sprintf("block=%d", bs), func(t *testing.T) {
			stats, err := fixtures.WorkloadStats(trace, fixtures.StatsOptions{BlockSize: bs})
			if err != nil {
				t.Fatal(err)
			}
			srv := mock.Start(t, mock.Config{BlockSize: bs, UnlimitedKVCache: true, SpeedupRatio: 50})
			// One request at a time: a prefix is in the cache before the next request
			// that shares it arrives, as the prediction assumes.
			res := perftest.Run(t, perftest.Case{Target: srv, Workload: trace, Load: perftest.Concurrency(1), Count: 1, Warmup: -1})
			var cached, prompt int
			for _, r := range res.Reps[0].Records {
				cached += r.CachedTokens
				prompt += r.InputTokens
			}
			got := float64(cached) / float64(prompt)
			t.Logf("block %d: predicted hit ratio %.4f, server reported %.4f (%d of %d prompt tokens cached); server metric %.4f",
				bs, stats.PrefixHitRatio, got, cached, prompt, res.Value("server-prefix-hit-ratio")[0])
			if math.Abs(got-stats.PrefixHitRatio) > 0.01 {
				t.Errorf("server cached %.4f of prompt tokens; the trace predicts %.4f (within 1 point)", got, stats.PrefixHitRatio)
			}
		})
	}
}

// TestPublicTraceReplayHitRatio does the same on the first 2,000 requests of Mooncake's
// conversation trace (kvcache-ai/Mooncake, FAST'25), when ../shared/traces is present.
func TestPublicTraceReplayHitRatio(t *testing.T) {
	path := "../../../shared/traces/conversation_trace.jsonl"
	if _, err := os.Stat(path); err != nil {
		t.Skipf("public traces not here (%v): they live beside the checkout, not in it", err)
	}
	if testing.Short() || perftest.RaceEnabled {
		t.Skip("replays 14M prompt tokens over HTTP: skipped with -short and -race")
	}
	trace := fixtures.Transform{Trace: &fixtures.Mooncake{Path: path}, Limit: 2000}
	for _, bs := range []int{16, 64} {
		t.Run(fmt.Sprintf("block=%d", bs), func(t *testing.T) {
			stats, err := fixtures.WorkloadStats(trace, fixtures.StatsOptions{BlockSize: bs})
			if err != nil {
				t.Fatal(err)
			}
			srv := mock.Start(t, mock.Config{BlockSize: bs, UnlimitedKVCache: true, SpeedupRatio: 1000})
			res := perftest.Run(t, perftest.Case{Target: srv, Workload: trace, Load: perftest.Concurrency(1), Count: 1, Warmup: -1})
			var cached, prompt int
			for _, r := range res.Reps[0].Records {
				cached += r.CachedTokens
				prompt += r.InputTokens
			}
			got := float64(cached) / float64(prompt)
			t.Logf("block %d: predicted %.4f, server reported %.4f over %d requests", bs, stats.PrefixHitRatio, got, len(res.Reps[0].Records))
			if math.Abs(got-stats.PrefixHitRatio) > 0.01 {
				t.Errorf("server cached %.4f of prompt tokens; the trace predicts %.4f (within 1 point)", got, stats.PrefixHitRatio)
			}
		})
	}
}

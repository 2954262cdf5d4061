package mock

import (
	"iter"
	"math"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/perfgate/perfgate/fixtures"
)

// workload adapts a fixtures workload to replay requests.
func workload(w fixtures.Workload) iter.Seq2[ReplayRequest, error] {
	return func(yield func(ReplayRequest, error) bool) {
		for r, err := range w.Requests() {
			if !yield(ReplayRequest{Arrival: r.Arrival, Tokens: r.Tokens, MaxTokens: r.OutputTokens}, err) {
				return
			}
		}
	}
}

// spaced gives a workload's requests arrival times every gap.
func spaced(w fixtures.Workload, gap time.Duration) iter.Seq2[ReplayRequest, error] {
	return func(yield func(ReplayRequest, error) bool) {
		i := 0
		for r, err := range workload(w) {
			r.Arrival = time.Duration(i) * gap
			i++
			if !yield(r, err) {
				return
			}
		}
	}
}

func prefixWorkload(ratio float64, prompts int) fixtures.Workload {
	return fixtures.SharedPrefix{ISL: 2048, OSL: 16, PrefixRatio: ratio, NumPrefixes: 8, Prompts: prompts, Seed: 3}
}

// One worker behind any router is the single engine: every result and total is Replay's.
func TestReplayClusterOneWorkerIsReplay(t *testing.T) {
	cfg := Config{NumGPUBlocks: 600, MaxNumSeqs: 16, Noise: 0.1, Seed: 9}
	reqs := spaced(prefixWorkload(0.5, 120), 7*time.Millisecond)
	var want []ReplayResult
	wantSt, err := Replay(cfg, reqs, func(r ReplayResult) { want = append(want, r) })
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range RouterPolicies {
		var got []ReplayResult
		st, err := ReplayCluster(ClusterConfig{Worker: cfg, Router: RouterConfig{Policy: p}}, reqs, ClusterReplayOptions{}, func(r ClusterReplayResult) {
			if r.Worker != 0 {
				t.Errorf("worker %d", r.Worker)
			}
			got = append(got, r.ReplayResult)
		})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: results differ from Replay's", p)
		}
		if st.ReplayStats != wantSt {
			t.Errorf("%s: stats %+v, Replay's %+v", p, st.ReplayStats, wantSt)
		}
		if wantSt.Preemptions == 0 || wantSt.CachedTokens == 0 {
			t.Errorf("workload too easy: %+v", wantSt)
		}
	}
}

// The KV router's expected overlap is what it learned from the workers' events: with
// requests far apart (nothing in flight, nothing evicted between routing and admission),
// the blocks it expected the chosen worker to hold are exactly those the worker hit.
func TestReplayClusterRouterLearnsFromEvents(t *testing.T) {
	cfg := ClusterConfig{Workers: 4, Router: RouterConfig{Policy: RouteKV}}
	var n, hitReqs int
	st, err := ReplayCluster(cfg, spaced(prefixWorkload(0.75, 64), time.Second), ClusterReplayOptions{}, func(r ClusterReplayResult) {
		n++
		if r.CachedTokens > 0 {
			hitReqs++
		}
		if r.RouterOverlap*DefaultBlockSize != r.CachedTokens {
			t.Errorf("request %d on worker %d: router expected %d blocks, worker hit %d tokens", r.Index, r.Worker, r.RouterOverlap, r.CachedTokens)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	// 8 prefixes: each is computed once, on one worker, and hit every other time.
	if n != 64 || hitReqs != 64-8 {
		t.Errorf("%d results, %d with hits; want 64 and 56", n, hitReqs)
	}
	if hr := st.HitRatio(); math.Abs(hr-0.75*56/64) > 0.01 {
		t.Errorf("hit ratio %.4f", hr)
	}
}

func TestReplayClusterClosedLoop(t *testing.T) {
	const conc = 5
	inflight, peak := 0, 0
	var last time.Duration
	type span struct{ start, end time.Duration }
	var spans []span
	st, err := ReplayCluster(ClusterConfig{Workers: 2}, workload(prefixWorkload(0.5, 40)), ClusterReplayOptions{Concurrency: conc, TokenTimes: true}, func(r ClusterReplayResult) {
		spans = append(spans, span{r.Arrival, r.Arrival + r.E2E})
		if len(r.Tokens) != r.OutputTokens || r.Tokens[0] != r.TTFT || r.Tokens[len(r.Tokens)-1] != r.E2E {
			t.Errorf("request %d: tokens %v, TTFT %v, e2e %v", r.Index, r.Tokens, r.TTFT, r.E2E)
		}
		last = max(last, r.Arrival+r.E2E)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range spans {
		inflight = 0
		for _, o := range spans {
			if o.start <= s.start && s.start < o.end {
				inflight++
			}
		}
		peak = max(peak, inflight)
	}
	if st.Requests != 40 || len(spans) != 40 || peak != conc || last != st.Makespan {
		t.Errorf("requests %d, results %d, peak in flight %d (want %d), last token %v, makespan %v", st.Requests, len(spans), peak, conc, last, st.Makespan)
	}
}

func TestReplayClusterConversationTrace(t *testing.T) {
	if _, err := os.Stat(conversationTrace); err != nil {
		t.Skipf("needs the shared traces (../shared/traces next to the checkout): %v", err)
	}
	if raceEnabled || testing.Short() {
		t.Skip("replays 145M prompt tokens: skipped with -race and -short")
	}
	for _, p := range []RouterPolicy{RouteKV, RouteRoundRobin} {
		start := time.Now()
		st, err := ReplayCluster(ClusterConfig{Workers: 8, Worker: Config{SpeedupRatio: 1}, Router: RouterConfig{Policy: p}},
			mooncake(conversationTrace), ClusterReplayOptions{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %v wall; hit %.4f makespan %v busy %v steps %d preempt %d", p, time.Since(start), st.HitRatio(), st.Makespan, st.Busy, st.Steps, st.Preemptions)
	}
}

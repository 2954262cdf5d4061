package mock

import (
	"iter"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// replaySlice runs reqs on the virtual clock and returns the results by index.
func replaySlice(t testing.TB, cfg Config, reqs []ReplayRequest) ([]ReplayResult, ReplayStats) {
	t.Helper()
	out := make([]ReplayResult, len(reqs))
	st, err := Replay(cfg, sliceSeq(reqs), func(r ReplayResult) { out[r.Index] = r })
	if err != nil {
		t.Fatal(err)
	}
	return out, st
}

func sliceSeq(reqs []ReplayRequest) iter.Seq2[ReplayRequest, error] {
	return func(yield func(ReplayRequest, error) bool) {
		for _, r := range reqs {
			if !yield(r, nil) {
				return
			}
		}
	}
}

func randTokens(rng *rand.Rand, n int) []int {
	t := make([]int, n)
	for i := range t {
		t[i] = 100 + rng.IntN(32000)
	}
	return t
}

// The same 512-token prompt twice, block size 16: the second request finds 496 tokens cached
// (the last block is never a hit: at least one token must be computed) and its TTFT is lower
// by exactly what the profile predicts for 496 fewer prefill tokens.
func TestPrefixCacheSamePromptTwice(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	p := randTokens(rng, 512)
	res, st := replaySlice(t, Config{BlockSize: 16}, []ReplayRequest{
		{Arrival: 0, Tokens: p, MaxTokens: 4},
		{Arrival: time.Hour, Tokens: p, MaxTokens: 4},
	})
	if res[0].CachedTokens != 0 || res[1].CachedTokens != 496 {
		t.Fatalf("cached tokens = %d, %d; want 0, 496", res[0].CachedTokens, res[1].CachedTokens)
	}
	prof := DefaultProfile()
	if want := prof.PrefillTime(512); res[0].TTFT != want {
		t.Errorf("first TTFT = %v, want %v", res[0].TTFT, want)
	}
	if want := prof.PrefillTime(16); res[1].TTFT != want {
		t.Errorf("second TTFT = %v, want %v", res[1].TTFT, want)
	}
	if d, want := res[0].TTFT-res[1].TTFT, prof.PrefillTime(512)-prof.PrefillTime(16); d != want {
		t.Errorf("TTFT gain = %v, want %v", d, want)
	}
	if st.CachedTokens != 496 || st.PromptTokens != 1024 {
		t.Errorf("stats %+v", st)
	}
}

func TestPrefixHitCap(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	long := randTokens(rng, 1000)
	for _, tc := range []struct{ n, bs, want int }{
		{512, 16, 496}, {513, 16, 512}, {17, 16, 16}, {16, 16, 0}, {1, 16, 0}, {1000, 64, 960}, {512, 512, 0},
	} {
		res, _ := replaySlice(t, Config{BlockSize: tc.bs}, []ReplayRequest{
			{Tokens: long[:tc.n], MaxTokens: 1},
			{Arrival: time.Hour, Tokens: long[:tc.n], MaxTokens: 1},
		})
		if got := res[1].CachedTokens; got != tc.want || got != (tc.n-1)/tc.bs*tc.bs {
			t.Errorf("n=%d block=%d: cached %d, want %d", tc.n, tc.bs, got, tc.want)
		}
	}
	// Caching off: no hits.
	res, _ := replaySlice(t, Config{DisablePrefixCaching: true}, []ReplayRequest{
		{Tokens: long, MaxTokens: 1}, {Arrival: time.Hour, Tokens: long, MaxTokens: 1},
	})
	if res[1].CachedTokens != 0 {
		t.Errorf("caching disabled: cached %d", res[1].CachedTokens)
	}
}

// predictSchedule is an independent model of the documented scheduling policy for requests
// that all arrive at 0 with distinct prompts, ample KV and n <= max_num_seqs: every step decodes one token for
// every sequence that has its first token, then fills the rest of the token budget with
// prefill chunks in FIFO order; the step costs prefill(chunk tokens) + decode(active KV).
func predictSchedule(p Profile, n, isl, osl, budget int, capTokens float64) time.Duration {
	type st struct{ computed, generated int }
	seqs := make([]st, n)
	var total float64 // ms
	admitted := 0
	for {
		left := budget
		prefill, active, decode := 0, 0, false
		for i := range admitted {
			s := &seqs[i]
			if s.generated > 0 && s.generated < osl {
				decode = true
				left--
				active += s.computed + 1
			}
		}
		for i := range n {
			s := &seqs[i]
			if s.computed >= isl || left == 0 {
				continue
			}
			if i >= admitted {
				admitted = i + 1
			}
			c := min(isl-s.computed, left)
			left -= c
			prefill += c
			active += s.computed + c
		}
		if prefill == 0 && !decode {
			break
		}
		ms := 0.0
		if prefill > 0 {
			ms += p.prefillMS(prefill)
		}
		if decode {
			ms += p.decodeMS(float64(active) / capTokens)
		}
		total += ms
		// Commit.
		left = budget
		for i := range admitted {
			s := &seqs[i]
			if s.generated > 0 && s.generated < osl {
				s.computed++
				s.generated++
				left--
			}
		}
		for i := range admitted {
			s := &seqs[i]
			if s.computed >= isl || left == 0 {
				continue
			}
			c := min(isl-s.computed, left)
			left -= c
			s.computed += c
			if s.computed == isl {
				s.generated = 1
			}
		}
	}
	return msToDuration(total)
}

// 64 concurrent requests share steps: the simulated makespan matches the profile's
// prediction for that schedule (virtual clock, deterministic).
func TestConcurrentMakespan(t *testing.T) {
	const n, isl, osl = 64, 512, 128
	rng := rand.New(rand.NewPCG(5, 6))
	reqs := make([]ReplayRequest, n)
	for i := range reqs {
		reqs[i] = ReplayRequest{Tokens: randTokens(rng, isl), MaxTokens: osl}
	}
	p := DefaultProfile()
	capTok := float64(DefaultNumGPUBlocks * DefaultBlockSize)
	for _, budget := range []int{n * isl, DefaultMaxNumBatchedTokens, 2048} {
		_, st := replaySlice(t, Config{MaxNumBatchedTokens: budget}, reqs)
		want := predictSchedule(p, n, isl, osl, budget, capTok)
		if budget == n*isl {
			// One prefill step, then osl-1 decode steps: closed form.
			closed := p.prefillMS(n * isl)
			for k := 1; k < osl; k++ {
				closed += p.decodeMS(float64(n*(isl+k)) / capTok)
			}
			if d := math.Abs(float64(msToDuration(closed) - want)); d > float64(time.Millisecond) {
				t.Fatalf("predictor %v disagrees with closed form %v", want, msToDuration(closed))
			}
		}
		if rel := math.Abs(float64(st.Makespan-want)) / float64(want); rel > 0.05 {
			t.Errorf("budget %d: makespan %v, predicted %v (%.1f%% off)", budget, st.Makespan, want, 100*rel)
		} else {
			t.Logf("budget %d: makespan %v, predicted %v (%.3f%% off), %d steps", budget, st.Makespan, want, 100*rel, st.Steps)
		}
		if st.OutputTokens != n*osl {
			t.Errorf("output tokens %d, want %d", st.OutputTokens, n*osl)
		}
	}
}

// A prompt longer than the step's token budget is prefilled in chunks, one per step.
func TestChunkedPrefill(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	res, st := replaySlice(t, Config{MaxNumBatchedTokens: 1000}, []ReplayRequest{{Tokens: randTokens(rng, 2500), MaxTokens: 1}})
	p := DefaultProfile()
	want := 2*p.PrefillTime(1000) + p.PrefillTime(500)
	if d := res[0].TTFT - want; d < -2 || d > 2 || st.Steps != 3 {
		t.Fatalf("TTFT %v in %d steps, want %v in 3", res[0].TTFT, st.Steps, want)
	}
}

// Requests beyond max_num_seqs wait in the FIFO queue until a running one finishes.
func TestMaxNumSeqsQueues(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	var reqs []ReplayRequest
	for range 4 {
		reqs = append(reqs, ReplayRequest{Tokens: randTokens(rng, 64), MaxTokens: 10})
	}
	res, _ := replaySlice(t, Config{MaxNumSeqs: 2}, reqs)
	if res[0].Queue != 0 || res[1].Queue != 0 {
		t.Errorf("first two queued: %v %v", res[0].Queue, res[1].Queue)
	}
	for _, r := range res[2:] {
		// They start in the step after the first two finish.
		if r.Queue < res[0].E2E || r.Queue != res[2].Queue {
			t.Errorf("request %d queued %v; first finished at %v", r.Index, r.Queue, res[0].E2E)
		}
	}
}

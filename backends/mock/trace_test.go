package mock

import (
	"iter"
	"math"
	"os"
	"testing"

	"github.com/perfgate/perfgate/fixtures"
)

const conversationTrace = "../../../shared/traces/conversation_trace.jsonl"

// mooncake adapts a Mooncake trace to replay requests.
func mooncake(path string) iter.Seq2[ReplayRequest, error] {
	return func(yield func(ReplayRequest, error) bool) {
		for r, err := range (fixtures.Mooncake{Path: path}).Requests() {
			if !yield(ReplayRequest{Arrival: r.Arrival, Tokens: r.Tokens, MaxTokens: r.OutputTokens}, err) {
				return
			}
		}
	}
}

// With an unlimited KV cache, 37.4% of conversation_trace's prompt tokens are prefix hits
// (the figure in ../shared/traces/README.md); a realistic cache holds less.
func TestReplayConversationTrace(t *testing.T) {
	if _, err := os.Stat(conversationTrace); err != nil {
		t.Skipf("needs the shared traces (../shared/traces next to the checkout): %v", err)
	}
	for _, tc := range []struct {
		name string
		cfg  Config
		lo   float64
		hi   float64
	}{
		{"unlimited/block512", Config{UnlimitedKVCache: true, BlockSize: 512, MaxModelLen: 1 << 20, SpeedupRatio: 1000}, 0.369, 0.379},
		{"unlimited/block16", Config{UnlimitedKVCache: true, BlockSize: 16, MaxModelLen: 1 << 20, SpeedupRatio: 1000}, 0.369, 0.379},
		// 262,144 tokens of KV cache, as DefaultNumGPUBlocks with block 16.
		{"262k-tokens", Config{BlockSize: 512, NumGPUBlocks: 512, MaxModelLen: 200000, MaxNumSeqs: 64, SpeedupRatio: 1000}, 0, 0.30},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.cfg.BlockSize < 512 && (raceEnabled || testing.Short()) {
				t.Skip("9M cache blocks: slow under -race or -short; run without them")
			}
			st, err := Replay(tc.cfg, mooncake(conversationTrace), nil)
			if err != nil {
				t.Fatal(err)
			}
			hr := st.HitRatio()
			t.Logf("%+v hit ratio %.4f", st, hr)
			if st.Rejected != 0 || st.Requests != 12031 {
				t.Errorf("requests %d, rejected %d", st.Requests, st.Rejected)
			}
			if !(hr >= tc.lo && hr <= tc.hi) || math.IsNaN(hr) {
				t.Errorf("hit ratio %.4f, want in [%.3f, %.3f]", hr, tc.lo, tc.hi)
			}
		})
	}
}

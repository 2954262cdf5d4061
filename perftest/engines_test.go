package perftest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/backends/mock"
	"github.com/perfgate/perfgate/backends/vllm"
	"github.com/perfgate/perfgate/fixtures"
	"github.com/perfgate/perfgate/internal/fakeserver"
)

// These tests hold perftest to what servers it did not write were seen to do (issue 11),
// reproduced by the simulator's dialects and by internal/fakeserver.

func TestStaleKeepAliveIsResentNotFailed(t *testing.T) {
	// llama.cpp closes the connection after a streamed response while advertising
	// Keep-Alive: the client's pool reuses the dead connection.
	srv := fakeserver.Start(t, fakeserver.Config{CloseAfterStream: true})
	c := capture(t, nil, func(tb testing.TB) {
		res := Run(tb, Case{Target: srv, Workload: small, Load: Concurrency(2), Count: 2, Warmup: -1})
		retries := 0
		for _, rep := range res.Reps {
			assert.Equal(tb, rep.Requests, rep.Outcomes[OK], "no request fails because a kept-alive connection was closed")
			retries += rep.Diag.Retries
		}
		assert.Positive(tb, retries, "resends are counted")
	})
	assert.Empty(t, c.errors())
	assert.Contains(t, c.logged(), "resent after the server closed a kept-alive connection (not failures)")
}

// vocabTarget is a server that reports its vocabulary, as the llama.cpp module's does.
type vocabTarget struct {
	*fakeserver.Server
	vocab int
}

func (v vocabTarget) VocabularySize(context.Context) (int, error) { return v.vocab, nil }

func TestTokenIDsOutsideTheVocabularyAreRefused(t *testing.T) {
	srv := fakeserver.Start(t, fakeserver.Config{Vocab: 1000})
	target := vocabTarget{srv, 1000}
	_, err := Execute(t.Context(), Case{Target: target, Workload: fixtures.Synthetic{ISL: 64, OSL: 4, Prompts: 4, Seed: 1}, Load: Concurrency(1), Count: 1}, ExecOptions{})
	require.Error(t, err)
	assert.Regexp(t, `workload synthetic: request 0 holds token id \d+, outside the server's vocabulary of 1000 tokens`, err.Error())
	assert.Zero(t, srv.Requests(), "refused before the first request, warm-up included")

	res, err := Execute(t.Context(), Case{Target: target, Workload: fixtures.Synthetic{ISL: 64, OSL: 4, Prompts: 4, Seed: 1, Vocab: 1000}, Load: Concurrency(1), Count: 1}, ExecOptions{})
	require.NoError(t, err, "a workload told the vocabulary fits it")
	assert.Equal(t, 4, res.Reps[0].Outcomes[OK])
}

func TestChatSendsTextOfTheRequestedLength(t *testing.T) {
	srv := mock.Start(t, mock.Config{SpeedupRatio: 50})
	res := Run(t, Case{Target: srv, API: Chat, Workload: fixtures.Synthetic{ISL: 128, OSL: 4, Prompts: 6, Seed: 1}, Load: Concurrency(2), Count: 1})
	for _, r := range res.Reps[0].Records {
		// The simulator counts a token a word, plus its chat template's role and end tokens.
		assert.InDelta(t, 128, r.InputTokens, 8, "request %d: input of the requested length, not an empty message", r.Index)
	}
	assert.Zero(t, res.Reps[0].Diag.InputMismatch)
}

func TestUsageBesideChoicesIsRead(t *testing.T) {
	for name, d := range map[string]mock.Dialect{
		"llama.cpp: usage beside the last, empty choice":       {UsageWithLastChoice: true},
		"TensorRT-LLM: usage on every chunk":                   {UsageEveryChunk: true},
		"vLLM: usage in a separate choices:[] chunk (default)": {},
	} {
		t.Run(name, func(t *testing.T) {
			srv := mock.Start(t, mock.Config{SpeedupRatio: 50, Dialect: d})
			res := Run(t, Case{Target: srv, Workload: small, Load: Concurrency(2), Count: 1})
			for _, r := range res.Reps[0].Records {
				assert.Equal(t, r.WantInput, r.InputTokens, "request %d", r.Index)
				assert.Equal(t, r.WantOutput, r.OutputTokens, "request %d", r.Index)
			}
			assert.Zero(t, res.Reps[0].TokenMismatch)
		})
	}
}

func TestCoalescedChunksGivePerTokenITL(t *testing.T) {
	w := fixtures.Synthetic{ISL: 16, OSL: 12, Prompts: 6, Seed: 1}
	srv := mock.Start(t, mock.Config{SpeedupRatio: 50, Dialect: mock.Dialect{Coalesce: 4, UsageEveryChunk: true}})
	res := Run(t, Case{Target: srv, Workload: w, Load: Concurrency(2), Count: 1})
	for _, r := range res.Reps[0].Records {
		require.Equal(t, 3, r.Chunks, "12 tokens in chunks of 4")
		assert.Equal(t, []int32{4, 4, 4}, r.ChunkTokens, "the server's per-chunk usage says how many tokens each chunk carried")
		n := 0
		r.ITLs(func(time.Duration) { n++ })
		assert.Equal(t, 8, n, "the gaps after the first chunk, split per token")
	}
	assert.Equal(t, "per-token", res.ConfigValue("itl"))

	// Without per-chunk counts the gaps stay per chunk, and the result says so.
	srv = mock.Start(t, mock.Config{SpeedupRatio: 50, Dialect: mock.Dialect{Coalesce: 4}})
	c := capture(t, nil, func(tb testing.TB) {
		res = Run(tb, Case{Target: srv, Workload: w, Load: Concurrency(2), Count: 1})
	})
	assert.Equal(t, "per-chunk", res.ConfigValue("itl"))
	assert.Equal(t, 6, res.Reps[0].Diag.PerChunkITL)
	assert.Contains(t, c.logged(), "their ITL is per chunk")
	for _, r := range res.Reps[0].Records {
		assert.Equal(t, 12, r.Generated(), "the server's count of tokens, which the stream makes possible")
	}
}

func TestInStreamErrorMessageIsKept(t *testing.T) {
	srv := fakeserver.Start(t, fakeserver.Config{StreamError: "Input prompt is too big compared to KV size", ErrorAfter: 0})
	c := capture(t, nil, func(tb testing.TB) {
		Run(tb, Case{Target: srv, Workload: small, Load: Concurrency(1), Count: 1, Warmup: -1})
	})
	assert.Contains(t, c.errors(), "first error: server_error: request 0: error in stream: Input prompt is too big compared to KV size")
}

func TestShortOutputsFailTheRun(t *testing.T) {
	// llm-d-inference-sim ignores ignore_eos and stops early.
	srv := fakeserver.Start(t, fakeserver.Config{Generate: func(n int64, asked int) int { return 1 + int(n)%asked }})
	c := capture(t, nil, func(tb testing.TB) {
		res := Run(tb, Case{Target: srv, Workload: small, Load: Concurrency(2), Count: 1, Warmup: -1})
		assert.Equal(tb, "short-outputs", res.ConfigValue("health"))
		assert.True(tb, errors.Is(res.Problems[0], ErrShortOutputs))
	})
	assert.Contains(t, c.errors(), "requests generated fewer tokens than they asked for")
	c = capture(t, nil, func(tb testing.TB) {
		Run(tb, Case{Target: srv, Workload: small, Load: Concurrency(2), Count: 1, Warmup: -1, AllowShortOutputs: true})
	})
	assert.Empty(t, c.errors(), "unless the case lets the model stop")
}

func TestUnknownModelIsRefused(t *testing.T) {
	srv := fakeserver.Start(t, fakeserver.Config{Models: []string{"llama-a", "llama-b"}})
	_, err := Execute(t.Context(), Case{Target: srv, Model: "does-not-exist", Workload: small, Load: Concurrency(1)}, ExecOptions{Settings: Settings{"Model": "--model"}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `model "does-not-exist" is not served by`)
	assert.Contains(t, err.Error(), `it lists ["llama-a" "llama-b"] (set --model to one of them)`)
	res, err := Execute(t.Context(), Case{Target: srv, Workload: small, Load: Concurrency(1), Count: 1}, ExecOptions{})
	require.NoError(t, err)
	assert.Equal(t, "llama-a", res.ConfigValue("model"), "the first listed model by default")
}

func TestModelPathIsRecordedByName(t *testing.T) {
	assert.Equal(t, "tiny.gguf", modelName("/models/llama/tiny.gguf"))
	assert.Equal(t, "tiny.gguf", modelName(`C:\models\tiny.gguf`))
	assert.Equal(t, "Qwen/Qwen3-0.6B", modelName("Qwen/Qwen3-0.6B"), "a hub name is not a path")
}

// noReset is the simulator without its cache reset, and resetNoop one whose reset claims
// success but empties nothing.
type noReset struct{ *fakeserver.Server }

type resetNoop struct{ srv *mock.Server }

func (r resetNoop) BaseURL() string                        { return r.srv.BaseURL() }
func (r resetNoop) ResetPrefixCache(context.Context) error { return nil }
func (r resetNoop) Describe() map[string]string            { return r.srv.Describe() }
func (r resetNoop) MetricsURL() string                     { return r.srv.MetricsURL() }
func (r resetNoop) MetricNames() map[string]string {
	return map[string]string{"kv-usage": "vllm:kv_cache_usage_perc"}
}
func (r failingReset) ResetPrefixCache(context.Context) error {
	return errors.New("HTTP 404: no such route")
}

type failingReset struct{ *fakeserver.Server }

func TestCacheResetIsSaidAndRecorded(t *testing.T) {
	srv := mock.Start(t, mock.Config{SpeedupRatio: 50})
	res := Run(t, Case{Target: srv, Workload: small, Load: Concurrency(2), Count: 2})
	assert.Equal(t, "yes", res.ConfigValue("cache-reset"))

	c := capture(t, nil, func(tb testing.TB) {
		res = Run(tb, Case{Target: noReset{fakeserver.Start(t, fakeserver.Config{})}, Workload: small, Load: Concurrency(2), Count: 2})
	})
	assert.Equal(t, "unavailable", res.ConfigValue("cache-reset"))
	assert.Equal(t, 1, strings.Count(c.logged(), "cache reset: the target cannot empty its prefix cache"), "said once")

	c = capture(t, nil, func(tb testing.TB) {
		res = Run(tb, Case{Target: failingReset{fakeserver.Start(t, fakeserver.Config{})}, Workload: small, Load: Concurrency(2), Count: 3})
	})
	assert.Equal(t, "failed", res.ConfigValue("cache-reset"))
	assert.Equal(t, 1, strings.Count(c.logged(), "cache reset failed before repetition 1: HTTP 404: no such route"))

	// llm-d-inference-sim has no /reset_prefix_cache: vLLM's module empties its cache by
	// putting it to sleep and waking it, before every repetition.
	sleeper := fakeserver.Start(t, fakeserver.Config{Sleep: fakeserver.SleepHonoured})
	res = Run(t, Case{Target: vllm.Endpoint(sleeper.URL + "/v1"), Workload: small, Load: Concurrency(2), Count: 2})
	assert.Equal(t, "yes", res.ConfigValue("cache-reset"))
	assert.GreaterOrEqual(t, sleeper.Sleeps(), int64(2), "slept before each repetition")
	assert.False(t, sleeper.Asleep())

	// A reset that claims success but leaves the cache warm shows in the server's own
	// cached-token counts: the synthetic prompts are the same in every repetition.
	c = capture(t, nil, func(tb testing.TB) {
		res = Run(tb, Case{Target: resetNoop{mock.Start(t, mock.Config{SpeedupRatio: 50})}, Workload: fixtures.Synthetic{ISL: 64, OSL: 4, Prompts: 4, Seed: 1}, Load: Concurrency(1), Count: 2, Warmup: -1})
	})
	assert.Equal(t, "ineffective", res.ConfigValue("cache-reset"))
	assert.Contains(t, c.logged(), "the reset did not empty the cache")
	assert.Equal(t, "kv-peak", res.ConfigValue("server-metrics"))
	assert.Contains(t, c.logged(), "server metrics: server-prefix-hit-ratio, server-preemptions, server-queue-mean-sec, server-prefill-mean-sec, server-decode-mean-sec, server-inference-mean-sec, server-waiting-peak absent")
}

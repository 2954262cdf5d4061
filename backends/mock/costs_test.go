package mock

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tokenTimes records when each token of one sequence came out, on the virtual clock.
type tokenTimes struct {
	nopHooks
	at    []time.Duration // per token
	steps int             // token events (engine steps that emitted)
	why   finishReason
}

func (h *tokenTimes) token(q *seq, now time.Duration) {
	for range q.stepTokens {
		h.at = append(h.at, now)
	}
	h.steps++
}

func (h *tokenTimes) finished(_ *seq, _ time.Duration, why finishReason) { h.why = why }

// runAlone runs q alone on an engine of cfg, from time 0 to its end, and returns its
// token times.
func runAlone(t *testing.T, cfg Config, q *seq) *tokenTimes {
	t.Helper()
	h := &tokenTimes{}
	e := newEngine(cfg, h)
	require.NoError(t, e.add(q, 0))
	var now time.Duration
	for e.hasWork() {
		d, ok := e.schedule(now)
		require.True(t, ok)
		now += d
		e.commit(now)
	}
	return h
}

func prompt(n int) []int { return randTokens(rand.New(rand.NewPCG(7, uint64(n))), n) }

// Reasoning at Slowdown 1.2 makes each reasoning token's step 20% slower and leaves the
// answer's steps and the first token (a prefill step) as they were.
func TestReasoningSlowdownOnTheVirtualClock(t *testing.T) {
	seqOf := func() *seq {
		q := newSeq(prompt(64), 10, DefaultBlockSize)
		q.reasoning = 6
		return q
	}
	base := runAlone(t, Config{Reasoning: Reasoning{Parser: "qwen3"}}, seqOf())
	slow := runAlone(t, Config{Reasoning: Reasoning{Parser: "qwen3", Slowdown: 1.2}}, seqOf())
	require.Len(t, base.at, 10)
	require.Len(t, slow.at, 10)
	assert.Equal(t, base.at[0], slow.at[0], "the first token is prefill")
	for i := 1; i < 10; i++ {
		gb, gs := base.at[i]-base.at[i-1], slow.at[i]-slow.at[i-1]
		want := gb
		if i < 6 { // the step that computes token i decodes token i-1's successor; reasoning while generated < 6
			want = msToDuration(1.2 * float64(gb) / 1e6)
		}
		assert.InDelta(t, float64(want), float64(gs), 2, "gap before token %d", i)
	}
}

// A sequence under a grammar pays TokenMS in every step that samples one of its tokens,
// and CompileMS once, in its first step; images pay their encoder time the same way.
func TestGrammarAndEncoderCosts(t *testing.T) {
	base := runAlone(t, Config{}, newSeq(prompt(64), 5, DefaultBlockSize))
	q := newSeq(prompt(64), 5, DefaultBlockSize)
	q.structured, q.onceMS = true, 40
	g := runAlone(t, Config{StructuredOutput: StructuredOutput{TokenMS: 3}}, q)
	assert.InDelta(t, float64(base.at[0]+msToDuration(43)), float64(g.at[0]), 2, "first token: compile (40 ms) and one masked sample (3 ms)")
	for i := 1; i < 5; i++ {
		assert.InDelta(t, float64(base.at[i]-base.at[i-1]+msToDuration(3)), float64(g.at[i]-g.at[i-1]), 2, "gap before token %d", i)
	}
}

// With speculative decoding a decode step emits 1 + accepted tokens; the counters add up
// (every token after the first comes from a decode step: its own or an accepted draft),
// the step costs draft_cost per draft token more, and the acceptance matches the model.
func TestSpeculativeDecodingOnTheVirtualClock(t *testing.T) {
	const n = 40001
	cfg := Config{Speculative: Speculative{Method: "eagle3", NumSpeculativeTokens: 3, AcceptanceRate: 0.7}}
	h := &tokenTimes{}
	e := newEngine(cfg, h)
	require.NoError(t, e.add(newSeq(prompt(64), n, DefaultBlockSize), 0))
	var now time.Duration
	var steps int
	for e.hasWork() {
		d, _ := e.schedule(now)
		now += d
		e.commit(now)
		steps++
	}
	sp := e.spec
	require.Len(t, h.at, n)
	assert.Equal(t, int64(n-1), int64(h.steps-1)+sp.accepted, "tokens = first + one per decode step + accepted drafts")
	assert.LessOrEqual(t, sp.draftTokens, 3*sp.drafts)
	var perPos int64
	for _, c := range sp.perPos {
		perPos += c
	}
	assert.Equal(t, sp.accepted, perPos)
	// The rate vLLM reports is the one configured; each position is accepted with p when
	// the ones before were, p + p² + p³ = 3 * 0.7.
	assert.InDelta(t, 0.7, float64(sp.accepted)/float64(sp.draftTokens), 0.01, "acceptance rate")
	p := perTokenAcceptance(0.7, 3)
	assert.InDelta(t, 2.1, p+p*p+p*p*p, 1e-9)
	assert.InDelta(t, p, float64(sp.perPos[0])/float64(sp.drafts), 0.01, "position 0 acceptance")
	assert.InDelta(t, p, float64(sp.perPos[1])/float64(sp.perPos[0]), 0.01, "position 1 acceptance after position 0")

	// The same request, run again, draws the same: acceptance is per request, not per run.
	again := newEngine(cfg, &tokenTimes{})
	require.NoError(t, again.add(newSeq(prompt(64), n, DefaultBlockSize), 0))
	for now = 0; again.hasWork(); {
		d, _ := again.schedule(now)
		now += d
		again.commit(now)
	}
	assert.Equal(t, sp.accepted, again.spec.accepted)

	// A decode step costs decode(u) * (1 + 3 * 0.05).
	plain := runAlone(t, Config{}, newSeq(prompt(64), 3, DefaultBlockSize))
	one := runAlone(t, Config{Speculative: Speculative{NumSpeculativeTokens: 3, AcceptanceRate: 1e-9}},
		newSeq(prompt(64), 6, DefaultBlockSize))
	want := float64(plain.at[1]-plain.at[0]) * 1.15
	assert.InDelta(t, want, float64(one.at[1]-one.at[0]), want*0.01)
}

// Acceptance 0.5 against 0.7: fewer tokens per step, a lower acceptance rate, a longer
// makespan for the same request.
func TestSpeculativeAcceptanceDrop(t *testing.T) {
	run := func(p float64) (rate float64, end time.Duration) {
		h := runAlone(t, Config{Speculative: Speculative{NumSpeculativeTokens: 3, AcceptanceRate: p}},
			newSeq(prompt(64), 2000, DefaultBlockSize))
		return float64(len(h.at)-1) / float64(h.steps-1), h.at[len(h.at)-1]
	}
	hi, endHi := run(0.7)
	lo, endLo := run(0.5)
	assert.InDelta(t, 1+3*0.7, hi, 0.1, "tokens per decode step at acceptance 0.7")
	assert.InDelta(t, 1+3*0.5, lo, 0.1, "tokens per decode step at acceptance 0.5")
	assert.Greater(t, endLo, endHi)
}

func TestSpeculativeRates(t *testing.T) {
	r := Speculative{NumSpeculativeTokens: 3, AcceptanceLength: 2.6}.rates()
	assert.InDeltaSlice(t, []float64{1, 0.6, 0}, r, 1e-12, "vLLM's least-variance schedule for length 2.6")
	r = Speculative{NumSpeculativeTokens: 3, AcceptanceRates: []float64{0.8, 0.4, 0.2}}.rates()
	assert.InDeltaSlice(t, []float64{0.8, 0.5, 0.5}, r, 1e-12, "unconditional rates to conditional")
	r = Speculative{NumSpeculativeTokens: 2}.rates()
	p := perTokenAcceptance(DefaultAcceptanceRate, 2)
	assert.InDeltaSlice(t, []float64{p, p}, r, 1e-12)
	assert.InDelta(t, DefaultAcceptanceRate, (p+p*p)/2, 1e-12)
	assert.Equal(t, 1.0, perTokenAcceptance(1, 4))
	assert.Equal(t, 0.0, Speculative{Method: "ngram"}.draftCost())
	assert.Equal(t, 0.05, Speculative{Method: "eagle"}.draftCost())
}

func TestSpeculativeConfigParseAndValidate(t *testing.T) {
	sp, err := ParseSpeculativeConfig(`{"method":"eagle3","model":"x","num_speculative_tokens":3,"draft_tensor_parallel_size":1,"acceptance_rate":0.5,"draft_cost":0.1}`)
	require.NoError(t, err)
	cost := 0.1
	assert.Equal(t, Speculative{Method: "eagle3", NumSpeculativeTokens: 3, AcceptanceRate: 0.5, DraftCost: &cost}, sp)
	_, err = ParseSpeculativeConfig(`{"method":"ngram"}`)
	assert.ErrorContains(t, err, "num_speculative_tokens must be >= 1")
	err = Config{Speculative: Speculative{NumSpeculativeTokens: 2, AcceptanceRates: []float64{0.5, 0.6}, AcceptanceRate: 0.3}}.Validate()
	assert.ErrorContains(t, err, "set one of")
	assert.ErrorContains(t, err, "non-increasing")
	assert.ErrorContains(t, Config{Speculative: Speculative{NumSpeculativeTokens: 2, AcceptanceLength: 4}}.Validate(), "AcceptanceLength must be in [1, 3]")
}

func TestFeatureConfigValidate(t *testing.T) {
	err := Config{
		Reasoning:        Reasoning{Fraction: 2},
		Dialect:          Dialect{ReasoningField: "thinking"},
		Tools:            Tools{AutoTextRate: -1},
		StructuredOutput: StructuredOutput{TokenMS: -1},
		Multimodal:       Multimodal{LimitPerPrompt: map[string]int{"image": -1}},
		Runner:           "embed",
	}.Validate()
	for _, want := range []string{"Reasoning: Fraction", "ReasoningField", "AutoTextRate", "StructuredOutput", `LimitPerPrompt["image"]`, "Runner must be"} {
		assert.ErrorContains(t, err, want)
	}
	lim, err := ParseLimitMMPerPrompt(`{"image": 2, "video": {"count": 0, "num_frames": 8}}`)
	require.NoError(t, err)
	assert.Equal(t, map[string]int{"image": 2, "video": 0}, lim)
	_, err = ParseLimitMMPerPrompt(`{"image": -1}`)
	assert.Error(t, err)
}

// A pooling sequence is prefill only: it leaves the engine when its prompt is computed,
// with no token, finished as "stop", having cost exactly the prefill time.
func TestPoolingSequenceIsPrefillOnly(t *testing.T) {
	q := newSeq(prompt(300), 0, DefaultBlockSize)
	q.pool = true
	h := &tokenTimes{}
	e := newEngine(Config{}, h)
	require.NoError(t, e.add(q, 0))
	d, _ := e.schedule(0)
	e.commit(d)
	assert.False(t, e.hasWork())
	assert.Empty(t, h.at)
	assert.Equal(t, finishStop, h.why)
	assert.Equal(t, DefaultProfile().PrefillTime(300), d)
	assert.Error(t, e.add(newSeq(prompt(3), 0, DefaultBlockSize), 0), "max_tokens 0 without pooling")
}

func TestImageTokens(t *testing.T) {
	for _, c := range []struct{ w, h, want int }{
		{1024, 1024, 1369}, {640, 480, 391}, {28, 28, 4}, {1, 1, 4}, {8000, 8000, 16384}, {1920, 1080, 2691},
	} {
		n, err := ImageTokens(c.w, c.h)
		require.NoError(t, err)
		assert.Equal(t, c.want, n, "%d×%d", c.w, c.h)
		assert.LessOrEqual(t, n, imageMaxPixels/(imageFactor*imageFactor))
	}
	_, err := ImageTokens(4000, 10)
	assert.ErrorContains(t, err, "aspect ratio")
}

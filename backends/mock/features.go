package mock

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
)

// Reasoning makes the simulated model think before it answers, as a model served with
// vLLM's --reasoning-parser does: a chat request's output starts with reasoning tokens,
// streamed in the dialect's reasoning field (Dialect.ReasoningField), then the answer.
// Usage's completion_tokens counts both, and completion_tokens_details.reasoning_tokens the
// reasoning. A request turns thinking on or off as vLLM and SGLang read it:
// chat_template_kwargs.enable_thinking (or .thinking), reasoning_effort ("none" turns it
// off), or, on the Responses API, reasoning.effort.
type Reasoning struct {
	// Parser is the reasoning parser's name (--reasoning-parser: deepseek_r1, qwen3, ...);
	// "" serves a model that does not reason. Every name behaves alike.
	Parser string
	// DefaultOff makes a request think only when it asks to, as vLLM does with
	// --default-chat-template-kwargs '{"enable_thinking": false}'.
	DefaultOff bool
	// Fraction is the share of a request's max_tokens spent reasoning (default 0.5).
	Fraction float64
	// Tokens, when > 0, is how many tokens every request reasons instead, at most its
	// max_tokens. A text answer may be all reasoning; a tool call or a JSON answer keeps at
	// least one token.
	Tokens int
	// Slowdown makes reasoning slower per token (simulator only): a step's decode time is
	// multiplied by 1 + (Slowdown-1)*r, r the share of its decoding sequences that are
	// reasoning. 0 or 1: reasoning costs what an answer token costs; 1.2: 20% more.
	Slowdown float64
}

// Tools configures tool calling. A chat or Responses request that offers tools and asks
// for one (tool_choice "required" or a named function) gets a tool call: the call's id and
// function name in the first answer token, its arguments (a JSON object) in the following
// ones, finish_reason "tool_calls" ("stop" for a named function, as vLLM answers).
type Tools struct {
	// AutoToolChoice and Parser are vLLM's --enable-auto-tool-choice and
	// --tool-call-parser: with both, tool_choice "auto" (the default when tools are
	// offered) may call a tool; without them vLLM refuses it, and so does the simulator.
	AutoToolChoice bool
	Parser         string
	// AutoTextRate is the share of requests with tool_choice "auto" that answer in text
	// instead of calling a tool (simulator only; default 0: every one calls). The draw is
	// deterministic per request: the same prompt and seed give the same choice.
	AutoTextRate float64
}

// StructuredOutput prices structured output (response_format json_schema or json_object,
// vLLM's structured_outputs): the answer is a JSON object, with as many tokens as asked,
// and the grammar costs time. Both costs are simulator-only knobs.
type StructuredOutput struct {
	// TokenMS is added to a step for every sequence under a grammar that samples a token
	// in it: the grammar backend's mask computation, a common source of TPOT regressions.
	TokenMS float64
	// CompileMS is added to the step that first schedules a request whose schema has not
	// been seen before (the grammar compilation; compiled grammars are cached).
	CompileMS float64
}

// Multimodal configures images in chat messages (content parts of type image_url with a
// data URL). Each image becomes TokensPerImage placeholder tokens of the prompt (charged to
// prefill, counted in prompt_tokens and in prompt_tokens_details.multimodal_tokens), and
// costs encoder time once: an image whose bytes are in the encoder cache costs none.
type Multimodal struct {
	// LimitPerPrompt caps items per prompt by modality, as vLLM's --limit-mm-per-prompt
	// ({"image": 2}); a modality not named takes 999. A request over the cap is refused
	// with vLLM's error.
	LimitPerPrompt map[string]int
	// EncoderMS is the vision encoder's time per image (default 2), EncoderTokenMS its
	// time per image token (default 0.02), added to the step that first schedules the
	// request.
	EncoderMS, EncoderTokenMS float64
	// EncoderCacheTokens bounds the encoder cache in image tokens (default
	// MaxNumBatchedTokens, as vLLM sizes it); least recently used images leave first.
	EncoderCacheTokens int
}

// DefaultLimitMM is vLLM's limit of items per prompt for a modality not named in
// --limit-mm-per-prompt.
const DefaultLimitMM = 999

// Speculative configures speculative decoding, as vLLM's --speculative-config: every
// decode step proposes up to NumSpeculativeTokens draft tokens per sequence and the target
// verifies them in the same step; the leading accepted ones and one token of the target's
// own are emitted together, in one chunk. Whether a draft token is accepted is drawn from
// a PRNG seeded by the request (its prompt and Config.Seed), so a request's acceptance is
// the same run after run.
//
// Cost model: the target verifies the draft tokens in the step's one forward pass, which
// decoding keeps memory-bound, so verifying costs what a decode step costs; drafting adds
// DraftCost of the step's decode time per draft token (a step's decode term is multiplied
// by 1 + k*DraftCost, k the longest draft in it). Draft tokens take token budget and KV
// slots like any scheduled token.
type Speculative struct {
	// Method is vLLM's method name (ngram, eagle, eagle3, mtp, medusa, draft_model,
	// suffix, ...). It sets DraftCost's default: 0 for ngram and suffix (drafting on the
	// CPU), 0.05 otherwise.
	Method string `json:"method"`
	// NumSpeculativeTokens is k, the draft length (0: speculative decoding is off).
	NumSpeculativeTokens int `json:"num_speculative_tokens"`
	// AcceptanceRates are vLLM's synthetic_acceptance_rates: entry i is the probability
	// that the first i+1 draft tokens are all accepted (non-increasing, k entries).
	AcceptanceRates []float64 `json:"synthetic_acceptance_rates,omitempty"`
	// AcceptanceLength is vLLM's synthetic_acceptance_length: the mean tokens per step,
	// counting the target's own, in [1, k+1].
	AcceptanceLength float64 `json:"synthetic_acceptance_length,omitempty"`
	// AcceptanceRate (simulator only) is the acceptance rate vLLM's counters report,
	// accepted / draft tokens, in [0, 1]. Each draft token is accepted with the same
	// probability p when the ones before it were (AcceptanceRates p, p², ..., p^k), p
	// chosen so that (p + p² + ... + p^k) / k is the rate. It is the default model, at
	// DefaultAcceptanceRate, when none of the three is set.
	AcceptanceRate float64 `json:"acceptance_rate,omitempty"`
	// DraftCost (simulator only) is the cost of one draft token as a fraction of a decode
	// step.
	DraftCost *float64 `json:"draft_cost,omitempty"`
}

// DefaultAcceptanceRate is the acceptance rate of a Speculative config that sets no
// acceptance.
const DefaultAcceptanceRate = 0.7

// Runners, as vLLM's --runner names them.
const (
	RunnerGenerate = "generate"
	RunnerPooling  = "pooling"
)

// DefaultEmbeddingDim is the length of an embedding when Config.EmbeddingDim is 0.
const DefaultEmbeddingDim = 1024

// ParseSpeculativeConfig reads --speculative-config: vLLM's JSON object ({"method":
// "eagle3", "num_speculative_tokens": 3, ...}), with the simulator's acceptance_rate and
// draft_cost beside vLLM's synthetic acceptance keys. vLLM keys the simulator does not
// model (model, draft_tensor_parallel_size, rejection_sample_method, ...) are accepted.
func ParseSpeculativeConfig(s string) (Speculative, error) {
	var sp Speculative
	if err := json.Unmarshal([]byte(s), &sp); err != nil {
		return Speculative{}, fmt.Errorf("speculative config: %w", err)
	}
	if sp.NumSpeculativeTokens < 1 {
		return Speculative{}, errors.New("speculative config: num_speculative_tokens must be >= 1")
	}
	return sp, nil
}

// ParseLimitMMPerPrompt reads --limit-mm-per-prompt: a JSON object of counts by modality
// ({"image": 2, "video": 0}). vLLM's per-modality objects ({"image": {"count": 2, ...}})
// are read for their count.
func ParseLimitMMPerPrompt(s string) (map[string]int, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		return nil, fmt.Errorf("limit-mm-per-prompt: %w", err)
	}
	out := make(map[string]int, len(raw))
	for k, v := range raw {
		var n int
		if bytes.HasPrefix(bytes.TrimSpace(v), []byte("{")) {
			var obj struct {
				Count int `json:"count"`
			}
			if err := json.Unmarshal(v, &obj); err != nil {
				return nil, fmt.Errorf("limit-mm-per-prompt %s: %w", k, err)
			}
			n = obj.Count
		} else if err := json.Unmarshal(v, &n); err != nil {
			return nil, fmt.Errorf("limit-mm-per-prompt %s: %w", k, err)
		}
		if n < 0 {
			return nil, fmt.Errorf("limit-mm-per-prompt %s: %d is negative", k, n)
		}
		out[k] = n
	}
	return out, nil
}

// rates resolves the acceptance model to conditional probabilities: entry i is the
// probability that draft token i is accepted when the ones before it were.
func (sp Speculative) rates() []float64 {
	k := sp.NumSpeculativeTokens
	uncond := sp.AcceptanceRates
	switch {
	case len(uncond) > 0:
	case sp.AcceptanceLength > 0:
		// vLLM's least-variance schedule: whole positions accepted, one partial.
		uncond = make([]float64, k)
		rest := sp.AcceptanceLength - 1
		for i := range uncond {
			uncond[i] = math.Max(0, math.Min(1, rest-float64(i)))
		}
	default:
		r := sp.AcceptanceRate
		if r == 0 {
			r = DefaultAcceptanceRate
		}
		p := perTokenAcceptance(r, k)
		uncond = make([]float64, k)
		for i := range uncond {
			uncond[i] = math.Pow(p, float64(i+1))
		}
	}
	cond := make([]float64, k)
	prev := 1.0
	for i := range cond {
		if i < len(uncond) && prev > 0 {
			cond[i] = uncond[i] / prev
			prev = uncond[i]
		}
	}
	return cond
}

// perTokenAcceptance is the p for which a draft of k tokens, each accepted with
// probability p when the ones before it were, has the acceptance rate r: (p + p² + ... +
// p^k) / k = r.
func perTokenAcceptance(r float64, k int) float64 {
	lo, hi := 0.0, 1.0
	for range 60 {
		p := (lo + hi) / 2
		sum, pi := 0.0, 1.0
		for range k {
			pi *= p
			sum += pi
		}
		if sum/float64(k) < r {
			lo = p
		} else {
			hi = p
		}
	}
	return (lo + hi) / 2
}

// draftCost is DraftCost or the method's default.
func (sp Speculative) draftCost() float64 {
	if sp.DraftCost != nil {
		return *sp.DraftCost
	}
	if sp.Method == "ngram" || sp.Method == "suffix" {
		return 0
	}
	return 0.05
}

// validate reports the problems of the feature settings of c (after defaults).
func (c Config) validateFeatures() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	r := c.Reasoning
	if !(r.Fraction >= 0 && r.Fraction <= 1) || r.Tokens < 0 || r.Slowdown < 0 {
		bad("Reasoning: Fraction must be in [0, 1], Tokens and Slowdown >= 0")
	}
	if f := c.Dialect.ReasoningField; f != "" && f != "reasoning" && f != "reasoning_content" {
		bad("Dialect.ReasoningField must be \"reasoning\" or \"reasoning_content\", got %q", f)
	}
	if !(c.Tools.AutoTextRate >= 0 && c.Tools.AutoTextRate <= 1) {
		bad("Tools.AutoTextRate must be in [0, 1], got %g", c.Tools.AutoTextRate)
	}
	if s := c.StructuredOutput; s.TokenMS < 0 || s.CompileMS < 0 {
		bad("StructuredOutput costs must be >= 0")
	}
	m := c.Multimodal
	if m.EncoderMS < 0 || m.EncoderTokenMS < 0 || m.EncoderCacheTokens < 0 {
		bad("Multimodal costs and EncoderCacheTokens must be >= 0")
	}
	for k, n := range m.LimitPerPrompt {
		if n < 0 {
			bad("Multimodal.LimitPerPrompt[%q] must be >= 0, got %d", k, n)
		}
	}
	errs = append(errs, c.Speculative.validate()...)
	if c.Runner != "" && c.Runner != RunnerGenerate && c.Runner != RunnerPooling && c.Runner != "auto" {
		bad("Runner must be %q or %q, got %q", RunnerGenerate, RunnerPooling, c.Runner)
	}
	if c.EmbeddingDim < 0 {
		bad("EmbeddingDim must be >= 0, got %d", c.EmbeddingDim)
	}
	return errs
}

func (sp Speculative) validate() []error {
	if sp.NumSpeculativeTokens == 0 && sp.Method == "" {
		return nil
	}
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("Speculative: "+format, args...))
	}
	k := sp.NumSpeculativeTokens
	if k < 1 || k > 64 {
		bad("NumSpeculativeTokens must be in [1, 64], got %d", k)
	}
	set := 0
	for _, b := range []bool{len(sp.AcceptanceRates) > 0, sp.AcceptanceLength != 0, sp.AcceptanceRate != 0} {
		if b {
			set++
		}
	}
	if set > 1 {
		bad("set one of AcceptanceRates, AcceptanceLength and AcceptanceRate")
	}
	if n := len(sp.AcceptanceRates); n > 0 {
		if n != k {
			bad("AcceptanceRates has %d entries, want NumSpeculativeTokens = %d", n, k)
		}
		if slices.ContainsFunc(sp.AcceptanceRates, func(r float64) bool { return !(r >= 0 && r <= 1) }) ||
			!slices.IsSortedFunc(sp.AcceptanceRates, func(a, b float64) int { return cmp.Compare(b, a) }) {
			bad("AcceptanceRates must be in [0, 1] and non-increasing, got %v", sp.AcceptanceRates)
		}
	}
	if l := sp.AcceptanceLength; l != 0 && !(l >= 1 && l <= float64(k+1)) {
		bad("AcceptanceLength must be in [1, %d], got %g", k+1, l)
	}
	if p := sp.AcceptanceRate; !(p >= 0 && p <= 1) {
		bad("AcceptanceRate must be in [0, 1], got %g", p)
	}
	if d := sp.DraftCost; d != nil && !(*d >= 0) {
		bad("DraftCost must be >= 0, got %g", *d)
	}
	return errs
}

// pooling reports whether the server runs a pooling model (embeddings, score, rerank).
func (c Config) pooling() bool { return strings.EqualFold(c.Runner, RunnerPooling) }

// limitMM is the cap on items of modality per prompt.
func (c Config) limitMM(modality string) int {
	if n, ok := c.Multimodal.LimitPerPrompt[modality]; ok {
		return n
	}
	return DefaultLimitMM
}

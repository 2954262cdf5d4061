package sse

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Usage is the token counts of a "usage" object.
type Usage struct {
	PromptTokens, CompletionTokens, CachedTokens int
	// ReasoningTokens is how many of CompletionTokens were reasoning, when HasReasoning
	// (the server reported a count).
	ReasoningTokens int
	HasReasoning    bool
}

// ErrBadUsage is wrapped by ParseUsage's error for a usage object whose counts cannot be
// true: a count that is not a whole number from 0 to 2^40, more cached than prompt tokens,
// more reasoning than completion tokens.
var ErrBadUsage = errors.New("impossible usage")

// rawUsage is a usage object as the APIs spell it: chat and completions (OpenAI's names,
// SGLang's top-level reasoning_tokens), and the Responses API (input_tokens,
// output_tokens). Counts are read raw, so that a bad one is named, not silently dropped.
type rawUsage struct {
	PromptTokens     json.RawMessage `json:"prompt_tokens"`
	CompletionTokens json.RawMessage `json:"completion_tokens"`
	InputTokens      json.RawMessage `json:"input_tokens"`
	OutputTokens     json.RawMessage `json:"output_tokens"`
	ReasoningTokens  json.RawMessage `json:"reasoning_tokens"` // SGLang
	PromptDetails    *rawDetails     `json:"prompt_tokens_details"`
	InputDetails     *rawDetails     `json:"input_tokens_details"`
	CompletionDetail *rawDetails     `json:"completion_tokens_details"`
	OutputDetails    *rawDetails     `json:"output_tokens_details"`
}

type rawDetails struct {
	CachedTokens    json.RawMessage `json:"cached_tokens"`
	ReasoningTokens json.RawMessage `json:"reasoning_tokens"`
}

// ParseUsage decodes a raw "usage" object (Chunk.Usage, the usage of a Responses API
// response or of a pooling answer), once per request rather than per token. It reads
// prompt_tokens, completion_tokens, prompt_tokens_details.cached_tokens and
// completion_tokens_details.reasoning_tokens (or SGLang's top-level reasoning_tokens), and
// the Responses API's input_tokens, output_tokens, input_tokens_details.cached_tokens and
// output_tokens_details.reasoning_tokens. A null count is no count. ok is false when raw
// is not an object with a prompt or completion count. A usage whose counts cannot be true
// is refused: err wraps ErrBadUsage and names the field, and u is zero.
func ParseUsage(raw []byte) (u Usage, ok bool, err error) {
	var w rawUsage
	if json.Unmarshal(raw, &w) != nil {
		return Usage{}, false, nil
	}
	var errs []error
	read := func(name string, vs ...json.RawMessage) (n int, has bool) {
		for _, v := range vs {
			if len(v) == 0 || string(v) == "null" {
				continue
			}
			if n, has = count(v); !has {
				errs = append(errs, fmt.Errorf("%s %s is not a count of tokens (a whole number from 0 to 2^40)", name, clip(string(v))))
			}
			return n, has
		}
		return 0, false
	}
	var hasPrompt, hasCompletion bool
	u.PromptTokens, hasPrompt = read("prompt_tokens", w.PromptTokens, w.InputTokens)
	u.CompletionTokens, hasCompletion = read("completion_tokens", w.CompletionTokens, w.OutputTokens)
	if d := cmpOr(w.PromptDetails, w.InputDetails); d != nil {
		u.CachedTokens, _ = read("cached_tokens", d.CachedTokens)
	}
	var details json.RawMessage
	if d := cmpOr(w.CompletionDetail, w.OutputDetails); d != nil {
		details = d.ReasoningTokens
	}
	u.ReasoningTokens, u.HasReasoning = read("reasoning_tokens", details, w.ReasoningTokens)
	if len(errs) == 0 && hasPrompt && u.CachedTokens > u.PromptTokens {
		errs = append(errs, fmt.Errorf("cached_tokens %d is more than prompt_tokens %d", u.CachedTokens, u.PromptTokens))
	}
	if len(errs) == 0 && hasCompletion && u.ReasoningTokens > u.CompletionTokens {
		errs = append(errs, fmt.Errorf("reasoning_tokens %d is more than completion_tokens %d", u.ReasoningTokens, u.CompletionTokens))
	}
	if len(errs) > 0 {
		return Usage{}, true, fmt.Errorf("%w: %w", ErrBadUsage, errors.Join(errs...))
	}
	return u, hasPrompt || hasCompletion, nil
}

func cmpOr(a, b *rawDetails) *rawDetails {
	if a != nil {
		return a
	}
	return b
}

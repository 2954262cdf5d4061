package sse

import (
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// Timings is the server's own timing of a request that llama.cpp's server sends on its
// last chunk as "timings" (tools/server: result_timings::to_json, checked at commit
// 82bb485): prompt_n prompt tokens evaluated (those not found in the slot's cache) in
// prompt_ms, cache_n found in the cache, predicted_n tokens generated in predicted_ms. The
// prompt time runs from the start of prompt processing to the first token, the predicted
// time from the first token to the last; the time the request waited for a slot is in
// neither.
type Timings struct {
	PromptTokens, CachedTokens, PredictedTokens int
	Prompt, Predicted                           time.Duration
}

type rawTimings struct {
	PromptN     *float64 `json:"prompt_n"`
	PromptMS    *float64 `json:"prompt_ms"`
	PredictedN  *float64 `json:"predicted_n"`
	PredictedMS *float64 `json:"predicted_ms"`
	CacheN      *float64 `json:"cache_n"`
}

// ParseTimings decodes a raw "timings" object (Chunk.Timings), once per request. It is an
// error for the object to lack prompt_ms or predicted_ms, or to hold a count that is not a
// whole number from 0 to 2^40 or a time that is negative or over a day; cache_n is 0 when
// absent (releases before it was added).
func ParseTimings(raw []byte) (Timings, error) {
	var w rawTimings
	if err := json.Unmarshal(raw, &w); err != nil {
		return Timings{}, fmt.Errorf("timings: %w", err)
	}
	if w.PromptMS == nil || w.PredictedMS == nil {
		return Timings{}, fmt.Errorf("timings %s: no prompt_ms or predicted_ms", clip(string(raw)))
	}
	var t Timings
	var err error
	tokens := func(name string, v *float64) int {
		if v == nil || err != nil {
			return 0
		}
		if *v < 0 || *v > 1<<40 || *v != math.Trunc(*v) {
			err = fmt.Errorf("timings: %s %v is not a count of tokens", name, *v)
		}
		return int(*v)
	}
	ms := func(name string, v *float64) time.Duration {
		if err != nil {
			return 0
		}
		if !(*v >= 0 && *v <= 86400e3) {
			err = fmt.Errorf("timings: %s %v is not a time in milliseconds (0 to a day)", name, *v)
			return 0
		}
		return time.Duration(*v*1e6 + 0.5)
	}
	t.PromptTokens, t.CachedTokens, t.PredictedTokens = tokens("prompt_n", w.PromptN), tokens("cache_n", w.CacheN), tokens("predicted_n", w.PredictedN)
	t.Prompt, t.Predicted = ms("prompt_ms", w.PromptMS), ms("predicted_ms", w.PredictedMS)
	if err != nil {
		return Timings{}, err
	}
	return t, nil
}

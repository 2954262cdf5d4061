package main

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/perfgate/perfgate/backends/mock"
)

// featureFlags are the flags of what the simulated model does beyond text (mock.Config's
// Reasoning, Tools, StructuredOutput, Multimodal, Speculative, Runner) and of what it tells
// of each request's phases (OTLPTracesEndpoint, Dialect.Timings): vLLM's where vLLM has
// one, then the simulator's own knobs. They sit before the cluster flags in the usage.
var featureFlags = []mockFlag{
	{name: "reasoning-parser", arg: "NAME", usage: "serve a reasoning model: chat answers start with reasoning tokens (any parser name: qwen3, deepseek_r1, ...)",
		set: func(o *mockOptions, v string) error { o.cfg.Reasoning.Parser = v; return nil }},
	{name: "default-chat-template-kwargs", arg: "JSON", usage: `chat template defaults; {"enable_thinking": false} makes thinking opt-in per request`,
		set: setDefaultChatTemplateKwargs},
	{name: "enable-auto-tool-choice", usage: `let tool_choice "auto" call tools (with --tool-call-parser)`,
		set: boolFlag(func(o *mockOptions) *bool { return &o.cfg.Tools.AutoToolChoice }, true)},
	{name: "tool-call-parser", arg: "NAME", usage: "tool call parser (any name: hermes, llama3_json, ...)",
		set: func(o *mockOptions, v string) error { o.cfg.Tools.Parser = v; return nil }},
	{name: "speculative-config", arg: "JSON", usage: `speculative decoding: {"method": "eagle3", "num_speculative_tokens": 3}; acceptance from vLLM's synthetic_acceptance_rates or synthetic_acceptance_length, or the simulator's "acceptance_rate" (accepted / draft tokens, as vllm:spec_decode_* count them; default 0.7) and "draft_cost" (per draft token, fraction of a decode step)`,
		set: func(o *mockOptions, v string) (err error) {
			o.cfg.Speculative, err = mock.ParseSpeculativeConfig(v)
			return err
		}},
	{name: "limit-mm-per-prompt", arg: "JSON", usage: `items per prompt by modality, e.g. {"image": 2} (default 999)`,
		set: func(o *mockOptions, v string) (err error) {
			o.cfg.Multimodal.LimitPerPrompt, err = mock.ParseLimitMMPerPrompt(v)
			return err
		}},
	{name: "runner", arg: "NAME", usage: "generate (default: completions, chat, responses) or pooling (embeddings, score, rerank)",
		set: func(o *mockOptions, v string) error { o.cfg.Runner = v; return nil }},
	{name: "otlp-traces-endpoint", arg: "URL", usage: "export vLLM's llm_request span of every request to this OTLP/HTTP endpoint, e.g. http://127.0.0.1:4318/v1/traces (protobuf, as with OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=http/protobuf; the simulator speaks no gRPC)",
		set: func(o *mockOptions, v string) error { o.cfg.OTLPTracesEndpoint = v; return nil }},
	// The simulator's own.
	{name: "timings", usage: "stream dialect: llama.cpp's timings object (prompt_n, prompt_ms, predicted_n, predicted_ms, cache_n) on the last chunk",
		set: boolFlag(func(o *mockOptions) *bool { return &o.cfg.Dialect.Timings }, true)},
	{name: "reasoning-field", arg: "NAME", usage: "stream dialect: reasoning in delta.reasoning (vLLM, default) or delta.reasoning_content (SGLang, llama.cpp, DeepSeek)",
		set: func(o *mockOptions, v string) error { o.cfg.Dialect.ReasoningField = v; return nil }},
	{name: "reasoning-fraction", arg: "F", usage: "share of max_tokens a request reasons (default 0.5)",
		set: floatFlag(func(o *mockOptions) *float64 { return &o.cfg.Reasoning.Fraction })},
	{name: "reasoning-tokens", arg: "N", usage: "tokens every request reasons (overrides --reasoning-fraction)",
		set: intFlag(func(o *mockOptions) *int { return &o.cfg.Reasoning.Tokens })},
	{name: "reasoning-slowdown", arg: "X", usage: "reasoning steps' decode time times X (1.2: 20% slower per reasoning token)",
		set: floatFlag(func(o *mockOptions) *float64 { return &o.cfg.Reasoning.Slowdown })},
	{name: "tool-auto-text-rate", arg: "P", usage: `share of tool_choice "auto" requests answered in text, not a call (default 0)`,
		set: floatFlag(func(o *mockOptions) *float64 { return &o.cfg.Tools.AutoTextRate })},
	{name: "grammar-token-ms", arg: "MS", usage: "structured output: ms per sampled token under a grammar, per sequence and step",
		set: floatFlag(func(o *mockOptions) *float64 { return &o.cfg.StructuredOutput.TokenMS })},
	{name: "grammar-compile-ms", arg: "MS", usage: "structured output: ms to compile a schema not seen before",
		set: floatFlag(func(o *mockOptions) *float64 { return &o.cfg.StructuredOutput.CompileMS })},
	{name: "encoder-ms", arg: "MS", usage: "vision encoder ms per image not in the encoder cache (default 2)",
		set: floatFlag(func(o *mockOptions) *float64 { return &o.cfg.Multimodal.EncoderMS })},
	{name: "encoder-token-ms", arg: "MS", usage: "vision encoder ms per image token (default 0.02)",
		set: floatFlag(func(o *mockOptions) *float64 { return &o.cfg.Multimodal.EncoderTokenMS })},
	{name: "encoder-cache-tokens", arg: "N", usage: "encoder cache size in image tokens (default --max-num-batched-tokens)",
		set: intFlag(func(o *mockOptions) *int { return &o.cfg.Multimodal.EncoderCacheTokens })},
	{name: "embedding-dim", arg: "N", usage: "length of an embedding (default 1024)",
		set: intFlag(func(o *mockOptions) *int { return &o.cfg.EmbeddingDim })},
}

func init() {
	i := slices.IndexFunc(mockFlags, func(f mockFlag) bool { return f.name == "workers" })
	mockFlags = slices.Insert(mockFlags, max(i, 0), featureFlags...)
}

// setDefaultChatTemplateKwargs reads --default-chat-template-kwargs: enable_thinking (or
// thinking) false makes thinking off unless a request turns it on; other keys are not
// modelled.
func setDefaultChatTemplateKwargs(o *mockOptions, v string) error {
	var kw map[string]any
	if err := json.Unmarshal([]byte(v), &kw); err != nil {
		return fmt.Errorf("default chat template kwargs: %w", err)
	}
	for _, k := range []string{"enable_thinking", "thinking"} {
		if b, ok := kw[k].(bool); ok {
			o.cfg.Reasoning.DefaultOff = !b
			break
		}
	}
	return nil
}

package vllm

import (
	"github.com/perfgate/perfgate/backends"
	"github.com/perfgate/perfgate/backends/internal/kit"
)

// request is what vLLM needs beyond perftest's body, checked against v0.32.0's protocol
// (entrypoints/openai/chat_completion, responses, engine/protocol.py):
//
//   - perftest's default body is vLLM's own dialect: max_tokens, min_tokens and ignore_eos
//     (its sampling parameters, top level), stream_options.include_usage, temperature;
//     llm-d-inference-sim takes the same. vLLM logs and ignores fields it does not know,
//     so nothing is refused before sending;
//   - stream_options.continuous_usage_stats (StreamOptions) puts the usage on every chunk,
//     so that a chunk carrying several tokens (speculative decoding accepting drafts, or
//     RequestOutputCollector merging outputs when the client falls behind) says how many,
//     and ITL stays per token;
//   - reasoning: chat requests pass chat_template_kwargs to the template, which turns a
//     reasoning model's thinking on or off (kit.Thinking); an effort is OpenAI's
//     reasoning_effort, which vLLM declares. The Responses API's request declares
//     reasoning.effort but no chat_template_kwargs, so on and off cannot be asked there.
//     vLLM streams the thinking in delta.reasoning once started with --reasoning-parser;
//   - tools: OpenAI's tools and tool_choice, with --enable-auto-tool-choice and
//     --tool-call-parser for "auto"; structured output: response_format json_schema,
//     which vLLM turns into its own structured_outputs.json, so perftest's spelling is
//     kept;
//   - embeddings (/v1/embeddings) and rerank (/v1/rerank, also /rerank and /v2/rerank) are
//     served by a pooling model (--runner pooling; --task in older releases).
var request = backends.Request{
	Fields:    kit.ContinuousUsage("completions", "chat"),
	Reasoning: kit.ThinkingFor("chat"),
}

package sglang

import (
	"github.com/perfgate/perfgate/backends"
	"github.com/perfgate/perfgate/backends/internal/kit"
)

// request is what SGLang needs beyond perftest's body, checked against
// python/sglang/srt/entrypoints/openai/protocol.py of the v0.5 line:
//
//   - CompletionRequest and ChatCompletionRequest declare every field perftest sends,
//     min_tokens and ignore_eos among their extra parameters, and ignore fields they do
//     not declare; stream_options.continuous_usage_stats (StreamOptions) puts the usage on
//     every chunk, so that a chunk of several tokens (speculative decoding) says how many;
//   - reasoning: chat_template_kwargs (kit.Thinking sets both keys, as SGLang's own
//     normalisation of reasoning_effort "none" does), taken by chat and by the Responses
//     API's request; an effort is reasoning_effort (chat) or reasoning.effort
//     (Responses). SGLang streams the thinking in delta.reasoning_content
//     (separate_reasoning, on by default, with --reasoning-parser) and counts it in
//     usage.reasoning_tokens, at the top of usage;
//   - tools and response_format json_schema as OpenAI spells them;
//   - embeddings at /v1/embeddings and rerank at /v1/rerank (V1RerankReqInput: query,
//     documents; the answer is a bare list of scores without usage) for an embedding or
//     reranking model (--is-embedding).
var request = backends.Request{
	Fields:    kit.ContinuousUsage("completions", "chat"),
	Reasoning: kit.ThinkingFor("chat", "responses"),
}

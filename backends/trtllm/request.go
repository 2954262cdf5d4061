package trtllm

import (
	"github.com/perfgate/perfgate/backends"
	"github.com/perfgate/perfgate/backends/internal/kit"
)

// request is what trtllm-serve takes. Every field perftest sends (model, prompt or
// messages, max_tokens, min_tokens, ignore_eos, stream, stream_options, temperature) is one
// it declares, so the body is perftest's own; but its OpenAI protocol models refuse any
// field they do not declare (pydantic extra="forbid", answered with HTTP 400), so a case
// whose Case.Extra holds another fails before its first request instead of failing every
// one. The lists are the top-level fields of CompletionRequest and ChatCompletionRequest in
// tensorrt_llm/serve/openai_protocol.py of the 1.2 line (DefaultImage is 1.2.1), with the
// few later releases added (thinking_token_budget, priority, conversation_params, ...), so
// that a newer image is not refused what it takes. In chat, max_tokens is the validation
// alias of max_completion_tokens; the server takes both names. Members of object fields
// (stream_options, response_format) are not checked.
//
// Reasoning: chat_template_kwargs (declared) turns thinking on or off (kit.Thinking), an
// effort is reasoning_effort (declared); the reasoning parser (--reasoning_parser) streams
// the thinking in delta.reasoning_content (GPT-OSS's in delta.reasoning). trtllm-serve
// (tensorrt_llm/serve/openai_server.py) serves /v1/completions, /v1/chat/completions and
// /v1/responses, and no embeddings or rerank route.
var request = backends.Request{
	Declared: map[string][]string{
		"completions": completionFields,
		"chat":        chatFields,
	},
	Refusal:   `trtllm-serve answers HTTP 400 to any field its protocol does not declare (pydantic extra="forbid")`,
	Reasoning: kit.ThinkingFor("chat"),
	Unserved: map[string]string{
		"embeddings": "trtllm-serve routes /v1/completions, /v1/chat/completions and /v1/responses only (tensorrt_llm/serve/openai_server.py)",
		"rerank":     "trtllm-serve routes /v1/completions, /v1/chat/completions and /v1/responses only (tensorrt_llm/serve/openai_server.py)",
	},
}

// completionFields are CompletionRequest's fields.
var completionFields = []string{
	// OpenAI's
	"model", "prompt", "best_of", "echo", "frequency_penalty", "logit_bias", "logprobs",
	"max_tokens", "n", "presence_penalty", "seed", "stop", "stream", "stream_options",
	"suffix", "temperature", "top_p", "user", "lora_request", "prompt_ignore_length",
	// completion-sampling-params
	"use_beam_search", "top_k", "top_p_min", "min_p", "repetition_penalty", "length_penalty",
	"early_stopping", "stop_token_ids", "include_stop_str_in_output", "ignore_eos",
	"min_tokens", "skip_special_tokens", "spaces_between_special_tokens",
	"truncate_prompt_tokens", "return_context_logits", "detokenize",
	// completion-extra-params
	"add_special_tokens", "response_format", "disaggregated_params",
	// added after 1.2
	"thinking_token_budget", "priority", "conversation_params",
}

// chatFields are ChatCompletionRequest's fields.
var chatFields = []string{
	// OpenAI's
	"messages", "prompt_token_ids", "model", "frequency_penalty", "logit_bias", "logprobs",
	"top_logprobs", "max_completion_tokens", "max_tokens", "n", "presence_penalty",
	"response_format", "seed", "stop", "stream", "stream_options", "temperature", "top_p",
	"tools", "tool_choice", "user", "reasoning_effort", "prompt_ignore_length",
	// chat-completion-sampling-params
	"best_of", "use_beam_search", "top_k", "top_p_min", "min_p", "repetition_penalty",
	"length_penalty", "early_stopping", "stop_token_ids", "include_stop_str_in_output",
	"ignore_eos", "min_tokens", "skip_special_tokens", "spaces_between_special_tokens",
	"truncate_prompt_tokens", "lora_request",
	// chat-completion-extra-params
	"echo", "add_generation_prompt", "add_special_tokens", "documents", "chat_template",
	"chat_template_kwargs", "disaggregated_params", "cache_salt",
	// added after 1.2
	"prompt_token_ids_b64", "parallel_tool_calls", "thinking", "thinking_token_budget",
	"injected_chat_template_kwargs", "media_io_kwargs", "conversation_params", "priority",
	"agent_hierarchy", "mm_processor_kwargs",
}

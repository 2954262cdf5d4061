package llamacpp

import "github.com/perfgate/perfgate/backends"

// request is what llama-server reads of perftest's body, checked against
// tools/server/server-task.cpp (params_from_json_cmpl) and server-common.cpp
// (oaicompat_chat_params_parse) and run at 82bb485:
//
//   - it reads model (in its router mode), prompt or messages, max_tokens, ignore_eos
//     (which it turns into a bias against end-of-generation tokens), stream,
//     stream_options.include_usage and temperature, and never min_tokens, so the module
//     does not send it. It ignores fields it does not know;
//   - reasoning: the request's chat_template_kwargs are merged over the server's and their
//     "enable_thinking" overrides its default; reasoning_format, read per request, says
//     where the thinking goes: "deepseek" streams it in delta.reasoning_content whatever
//     --reasoning-format the server was started with (with "none" it would be answer text,
//     and the first output token the first thought). An effort is OpenAI's
//     reasoning_effort, which later llama-server releases pass to the template as a kwarg
//     ("none" turns thinking off); whether it changes the thinking is the template's
//     business;
//   - embeddings (/v1/embeddings, with --embeddings) and rerank (/v1/rerank, with
//     --reranking) are served by the same binary.
var request = backends.Request{
	Fields: map[string]map[string]any{
		"completions": {"min_tokens": nil},
		"chat":        {"min_tokens": nil},
	},
	Reasoning: reasoning,
}

// reasoning turns thinking on or off through the template, and keeps it apart from the
// answer.
func reasoning(api, level string) map[string]any {
	if api != "chat" {
		return nil
	}
	on := level != "off"
	f := map[string]any{"chat_template_kwargs": map[string]any{"enable_thinking": on}}
	if on {
		f["reasoning_format"] = "deepseek"
	}
	return f
}

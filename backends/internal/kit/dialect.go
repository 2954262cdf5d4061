package kit

// Thinking is the field that turns a chat template's thinking on (every level but "off") or
// off, for engines that pass chat_template_kwargs to the template: under both names
// templates read, "enable_thinking" (Qwen3, GLM-4.5, Nemotron 3) and "thinking"
// (DeepSeek-V3.1, Kimi K2), as SGLang's own request normalisation sets them
// (entrypoints/openai/protocol.py, ChatCompletionRequest.normalize_reasoning_inputs). An
// effort rides beside it in the API's own field, which perftest adds.
func Thinking(level string) map[string]any {
	on := level != "off"
	return map[string]any{"chat_template_kwargs": map[string]any{"enable_thinking": on, "thinking": on}}
}

// ThinkingFor is an engine's Request.Reasoning that answers Thinking for the APIs listed
// and nothing for the others.
func ThinkingFor(apis ...string) func(api, level string) map[string]any {
	return func(api, level string) map[string]any {
		for _, a := range apis {
			if a == api {
				return Thinking(level)
			}
		}
		return nil
	}
}

// ContinuousUsage is the stream_options that ask for the usage on every chunk
// (continuous_usage_stats, which vLLM's and SGLang's StreamOptions declare) beside the
// usage at the end, for the APIs listed: a chunk carrying several tokens then says how
// many, and the client keeps inter-token latency per token.
func ContinuousUsage(apis ...string) map[string]map[string]any {
	f := map[string]map[string]any{}
	for _, a := range apis {
		f[a] = map[string]any{"stream_options": map[string]any{"include_usage": true, "continuous_usage_stats": true}}
	}
	return f
}

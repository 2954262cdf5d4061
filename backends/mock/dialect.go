package mock

import "fmt"

// The simulator speaks vLLM's dialect, so it tells a client what the vllm module tells it
// (perftest.Dialect): how to turn thinking on and off, where each API
// is served, and, with speculative decoding on, to ask for usage on every chunk.

// RequestFields are the fields a client adds to the simulator's requests for api
// (perftest.Dialect): with speculative decoding on, stream_options.
// continuous_usage_stats on completions and chat, so that a chunk carrying several
// tokens says how many; nothing otherwise.
func (s *Server) RequestFields(api string) map[string]any { return requestFields(&s.cfg, api) }

// ReasoningFields turn a reasoning model's thinking on or off in a chat request as vLLM
// reads it, through chat_template_kwargs (perftest.Dialect); an effort rides in
// reasoning_effort, which the client adds.
func (s *Server) ReasoningFields(api, level string) map[string]any {
	return reasoningFields(api, level)
}

// APIPath says where the simulator serves api (vLLM's paths: perftest's defaults) or that
// its runner serves no such API (perftest.Dialect).
func (s *Server) APIPath(api string) (string, error) { return apiPath(&s.cfg, api) }

// RequestFields are the workers' (see Server.RequestFields).
func (c *Cluster) RequestFields(api string) map[string]any {
	return requestFields(&c.cfg.Worker, api)
}

// ReasoningFields are the workers' (see Server.ReasoningFields).
func (c *Cluster) ReasoningFields(api, level string) map[string]any {
	return reasoningFields(api, level)
}

// APIPath is the workers' (see Server.APIPath).
func (c *Cluster) APIPath(api string) (string, error) { return apiPath(&c.cfg.Worker, api) }

// CheckRequest refuses no field: the simulator, as vLLM, ignores fields it does not know
// (perftest.Dialect).
func (s *Server) CheckRequest(api string, fields []string) error { return nil }

// CheckRequest is the workers' (see Server.CheckRequest).
func (c *Cluster) CheckRequest(api string, fields []string) error { return nil }

func requestFields(cfg *Config, api string) map[string]any {
	if cfg.Speculative.NumSpeculativeTokens == 0 || api != "completions" && api != "chat" {
		return nil
	}
	return map[string]any{"stream_options": map[string]any{"include_usage": true, "continuous_usage_stats": true}}
}

func reasoningFields(api, level string) map[string]any {
	if api != "chat" {
		return nil
	}
	on := level != "off"
	return map[string]any{"chat_template_kwargs": map[string]any{"enable_thinking": on, "thinking": on}}
}

func apiPath(cfg *Config, api string) (string, error) {
	pooling := api == "embeddings" || api == "rerank"
	switch {
	case pooling && !cfg.pooling():
		return "", fmt.Errorf("the simulator serves a generative model: it has no %s API (set Runner: RunnerPooling, or --runner pooling)", api)
	case !pooling && cfg.pooling():
		return "", fmt.Errorf("the simulator serves a pooling model (--runner pooling): it has no %s API", api)
	}
	return "", nil
}

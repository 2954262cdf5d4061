package mock

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// createdRE matches the one field of a chunk that changes from run to run.
var createdRE = regexp.MustCompile(`"created":\d+`)

// chatEvents streams a chat request and returns its data payloads with "created" zeroed.
func chatEvents(t *testing.T, srv *Server, body string) []string {
	t.Helper()
	ev := stream(t, client(t), srv.BaseURL()+"/v1/chat/completions", body)
	for i := range ev {
		ev[i] = createdRE.ReplaceAllString(ev[i], `"created":0`)
	}
	return ev
}

// chunkOf is the JSON of a chat chunk of request 1 with the given choice.
func chunkOf(choice string) string {
	return `{"id":"chatcmpl-1","object":"chat.completion.chunk","created":0,"model":"sim-llama-8b","choices":[{"index":0,` + choice + `,"stop_reason":null}]}`
}

const userHi = `"messages":[{"role":"user","content":"hi"}]`

// vLLM's dialect: reasoning in delta.reasoning, then the answer in delta.content; usage's
// completion_tokens counts both and completion_tokens_details.reasoning_tokens the
// reasoning. Every chunk exactly as vLLM's serializer writes it (exclude_unset).
func TestReasoningStreamVLLM(t *testing.T) {
	srv := Start(t, Config{SpeedupRatio: 100, Reasoning: Reasoning{Parser: "qwen3", Tokens: 3}})
	ev := chatEvents(t, srv, `{`+userHi+`,"max_tokens":5,"stream":true,"stream_options":{"include_usage":true}}`)
	want := []string{
		chunkOf(`"delta":{"role":"assistant","reasoning":" tok"},"logprobs":null,"finish_reason":null`),
		chunkOf(`"delta":{"reasoning":" tok"},"logprobs":null,"finish_reason":null`),
		chunkOf(`"delta":{"reasoning":" tok"},"logprobs":null,"finish_reason":null`),
		chunkOf(`"delta":{"content":" tok"},"logprobs":null,"finish_reason":null`),
		chunkOf(`"delta":{"content":" tok"},"logprobs":null,"finish_reason":"length"`),
		`{"choices":[],"created":0,"id":"chatcmpl-1","model":"sim-llama-8b","object":"chat.completion.chunk","usage":{"prompt_tokens":4,"total_tokens":9,"completion_tokens":5,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":3}}}`,
		"[DONE]",
	}
	assert.Equal(t, want, ev)
}

// SGLang's, llama.cpp's and DeepSeek's dialect: delta.reasoning_content; usage on every
// chunk counts reasoning tokens so far when the client asks for continuous usage stats.
func TestReasoningStreamSGLangContinuousUsage(t *testing.T) {
	srv := Start(t, Config{SpeedupRatio: 100, Reasoning: Reasoning{Parser: "deepseek_r1", Fraction: 0.5},
		Dialect: Dialect{ReasoningField: "reasoning_content"}})
	ev := chatEvents(t, srv, `{`+userHi+`,"max_tokens":4,"stream":true,"stream_options":{"include_usage":true,"continuous_usage_stats":true}}`)
	require.Len(t, ev, 6)
	u := func(c, r int) string {
		return fmt.Sprintf(`,"usage":{"prompt_tokens":4,"total_tokens":%d,"completion_tokens":%d,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":%d}}}`, 4+c, c, r)
	}
	chunk := func(choice string, c, r int) string { return strings.TrimSuffix(chunkOf(choice), "}") + u(c, r) }
	assert.Equal(t, chunk(`"delta":{"role":"assistant","reasoning_content":" tok"},"logprobs":null,"finish_reason":null`, 1, 1), ev[0])
	assert.Equal(t, chunk(`"delta":{"reasoning_content":" tok"},"logprobs":null,"finish_reason":null`, 2, 2), ev[1])
	assert.Equal(t, chunk(`"delta":{"content":" tok"},"logprobs":null,"finish_reason":null`, 3, 2), ev[2])
	assert.Equal(t, chunk(`"delta":{"content":" tok"},"logprobs":null,"finish_reason":"length"`, 4, 2), ev[3])
}

// reasoningOf counts the reasoning and content chunks of a chat stream and reads its
// usage's reasoning_tokens.
func reasoningOf(t *testing.T, srv *Server, extra string) (reasoning, content, usageReasoning int) {
	t.Helper()
	for _, e := range chatEvents(t, srv, `{`+userHi+`,"max_tokens":6,"stream":true,"stream_options":{"include_usage":true}`+extra+`}`) {
		if e == "[DONE]" {
			continue
		}
		var c struct {
			Choices []struct {
				Delta map[string]any `json:"delta"`
			} `json:"choices"`
			Usage *usage `json:"usage"`
		}
		require.NoError(t, json.Unmarshal([]byte(e), &c), e)
		if c.Usage != nil && c.Usage.CompletionTokensDetails != nil {
			usageReasoning = c.Usage.CompletionTokensDetails.ReasoningTokens
		}
		for _, ch := range c.Choices {
			if _, ok := ch.Delta["reasoning"]; ok {
				reasoning++
			}
			if _, ok := ch.Delta["content"]; ok {
				content++
			}
		}
	}
	return
}

// Thinking follows the request, as vLLM and SGLang read it, over the server's default.
func TestThinkingPerRequest(t *testing.T) {
	on := Start(t, Config{SpeedupRatio: 100, Reasoning: Reasoning{Parser: "qwen3"}})
	off := Start(t, Config{SpeedupRatio: 100, Reasoning: Reasoning{Parser: "qwen3", DefaultOff: true}})
	plain := Start(t, Config{SpeedupRatio: 100})
	for _, c := range []struct {
		name                   string
		srv                    *Server
		extra                  string
		reasoning, content, ur int
	}{
		{"default on", on, ``, 3, 3, 3},
		{"enable_thinking false", on, `,"chat_template_kwargs":{"enable_thinking":false}`, 0, 6, 0},
		{"thinking false", on, `,"chat_template_kwargs":{"thinking":false}`, 0, 6, 0},
		{"reasoning_effort none", on, `,"reasoning_effort":"none"`, 0, 6, 0},
		{"include_reasoning false", on, `,"include_reasoning":false`, 0, 3, 3},
		{"default off", off, ``, 0, 6, 0},
		{"default off, enable_thinking", off, `,"chat_template_kwargs":{"enable_thinking":true}`, 3, 3, 3},
		{"default off, reasoning_effort high", off, `,"reasoning_effort":"high"`, 3, 3, 3},
		{"not a reasoning model", plain, `,"chat_template_kwargs":{"enable_thinking":true}`, 0, 6, 0},
	} {
		r, ct, ur := reasoningOf(t, c.srv, c.extra)
		assert.Equal(t, []int{c.reasoning, c.content, c.ur}, []int{r, ct, ur}, c.name)
	}
}

const weatherTools = `"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}},{"type":"function","function":{"name":"search","parameters":{}}}]`

// A required tool call streams as vLLM's DeltaToolCall: the id, type, index and function
// name first, the arguments in pieces that join into a JSON object, finish_reason
// "tool_calls"; one chunk per token, as many as max_tokens.
func TestToolCallStream(t *testing.T) {
	srv := Start(t, Config{SpeedupRatio: 100})
	ev := chatEvents(t, srv, `{`+userHi+`,`+weatherTools+`,"tool_choice":"required","max_tokens":5,"stream":true}`)
	want := []string{
		chunkOf(`"delta":{"role":"assistant","tool_calls":[{"id":"chatcmpl-tool-chatcmpl-1","type":"function","index":0,"function":{"name":"get_weather"}}]},"logprobs":null,"finish_reason":null`),
		chunkOf(`"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":\""}}]},"logprobs":null,"finish_reason":null`),
		chunkOf(`"delta":{"tool_calls":[{"index":0,"function":{"arguments":" tok"}}]},"logprobs":null,"finish_reason":null`),
		chunkOf(`"delta":{"tool_calls":[{"index":0,"function":{"arguments":" tok"}}]},"logprobs":null,"finish_reason":null`),
		chunkOf(`"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"}"}}]},"logprobs":null,"finish_reason":"tool_calls"`),
		"[DONE]",
	}
	assert.Equal(t, want, ev)
}

// toolAnswer posts a non-streaming chat request and returns its status, finish reason,
// and the tool call's name and arguments (or the content).
func toolAnswer(t *testing.T, srv *Server, extra string) (int, string, string, string) {
	t.Helper()
	code, b := post(t, client(t), srv.BaseURL()+"/v1/chat/completions", `{`+userHi+`,`+weatherTools+extra+`,"max_tokens":4}`)
	if code != 200 {
		var e struct {
			Error struct{ Message string } `json:"error"`
		}
		json.Unmarshal(b, &e)
		return code, "", "", e.Error.Message
	}
	var r struct {
		Choices []struct {
			FinishReason string `json:"finish_reason"`
			Message      struct {
				Content   *string `json:"content"`
				ToolCalls []struct {
					ID, Type string
					Function struct{ Name, Arguments string }
				} `json:"tool_calls"`
			} `json:"message"`
		} `json:"choices"`
	}
	require.NoError(t, json.Unmarshal(b, &r), string(b))
	ch := r.Choices[0]
	if len(ch.Message.ToolCalls) == 0 {
		return code, ch.FinishReason, "", *ch.Message.Content
	}
	tc := ch.Message.ToolCalls[0]
	assert.True(t, json.Valid([]byte(tc.Function.Arguments)), tc.Function.Arguments)
	return code, ch.FinishReason, tc.Function.Name, tc.Function.Arguments
}

// Tool choices as vLLM serves them: "auto" needs --enable-auto-tool-choice and
// --tool-call-parser; a named function finishes with "stop"; tool_choice without tools
// is refused; AutoTextRate answers "auto" in text, the same way for the same request.
func TestToolChoices(t *testing.T) {
	plain := Start(t, Config{SpeedupRatio: 100})
	auto := Start(t, Config{SpeedupRatio: 100, Tools: Tools{AutoToolChoice: true, Parser: "hermes"}})
	text := Start(t, Config{SpeedupRatio: 100, Tools: Tools{AutoToolChoice: true, Parser: "hermes", AutoTextRate: 1}})
	type answer struct {
		code                  int
		finish, name, payload string
	}
	get := func(srv *Server, extra string) answer {
		c, f, n, p := toolAnswer(t, srv, extra)
		return answer{c, f, n, p}
	}
	assert.Equal(t, answer{400, "", "", `"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set`}, get(plain, ``))
	assert.Equal(t, answer{200, "tool_calls", "get_weather", `{"city":" tok"}`}, get(plain, `,"tool_choice":"required"`))
	assert.Equal(t, answer{200, "stop", "search", `{"input":" tok"}`}, get(plain, `,"tool_choice":{"type":"function","function":{"name":"search"}}`))
	assert.Equal(t, answer{400, "", "", "Tool 'nope' has not been passed in `tools`."}, get(plain, `,"tool_choice":{"type":"function","function":{"name":"nope"}}`))
	assert.Equal(t, answer{200, "length", "", " tok tok tok tok"}, get(plain, `,"tool_choice":"none"`))
	assert.Equal(t, answer{200, "tool_calls", "get_weather", `{"city":" tok"}`}, get(auto, ``))
	assert.Equal(t, answer{200, "length", "", " tok tok tok tok"}, get(text, `,"tool_choice":"auto"`))
	code, _ := post(t, client(t), plain.BaseURL()+"/v1/chat/completions", `{`+userHi+`,"tool_choice":"required","max_tokens":4}`)
	assert.Equal(t, 400, code, "tool_choice without tools")

	// Half the auto requests call, deterministically: the same prompts choose the same.
	half := Start(t, Config{SpeedupRatio: 100, Tools: Tools{AutoToolChoice: true, Parser: "hermes", AutoTextRate: 0.5}})
	var calls []bool
	for round := range 2 {
		for i := range 40 {
			body := fmt.Sprintf(`{"messages":[{"role":"user","content":"question %d"}],%s,"max_tokens":2}`, i, weatherTools)
			_, b := post(t, client(t), half.BaseURL()+"/v1/chat/completions", body)
			call := strings.Contains(string(b), `"tool_calls"`)
			if round == 0 {
				calls = append(calls, call)
			} else {
				assert.Equal(t, calls[i], call, "request %d draws the same twice", i)
			}
		}
	}
	n := 0
	for _, c := range calls {
		if c {
			n++
		}
	}
	assert.InDelta(t, 20, n, 8, "calls out of 40 at AutoTextRate 0.5")
}

// Structured output: response_format json_schema (or vLLM's structured_outputs) gives a
// JSON object of exactly max_tokens tokens, keyed by the schema's first required field,
// finish_reason "stop"; tokens through the grammar cost TokenMS each.
func TestStructuredOutputStream(t *testing.T) {
	srv := Start(t, Config{SpeedupRatio: 100})
	for _, f := range []string{
		`"response_format":{"type":"json_schema","json_schema":{"name":"c","schema":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}`,
		`"structured_outputs":{"json":{"type":"object","required":["city"]}}`,
	} {
		ev := chatEvents(t, srv, `{`+userHi+`,`+f+`,"max_tokens":6,"stream":true}`)
		require.Len(t, ev, 7)
		var text strings.Builder
		for i, e := range ev[:6] {
			var c struct {
				Choices []struct {
					Delta        struct{ Content string } `json:"delta"`
					FinishReason *string                  `json:"finish_reason"`
				} `json:"choices"`
			}
			require.NoError(t, json.Unmarshal([]byte(e), &c))
			text.WriteString(c.Choices[0].Delta.Content)
			if i == 5 {
				assert.Equal(t, "stop", *c.Choices[0].FinishReason)
			}
		}
		assert.Equal(t, `{"city":" tok tok tok tok"}`, text.String())
	}
	code, b := post(t, client(t), srv.BaseURL()+"/v1/completions", `{"prompt":"hi","response_format":{"type":"json_object"},"max_tokens":1}`)
	require.Equal(t, 200, code)
	assert.Contains(t, string(b), `"text":"{}"`)
	assert.Contains(t, string(b), `"finish_reason":"stop"`)
}

package api

import (
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/fixtures"
	"github.com/perfgate/perfgate/perftest/internal/sse"
)

const png = "data:image/png;base64,iVBORw0KGgo="

// agentTurn is a request with everything a chat request can carry beyond text: a system
// prompt, a user message with an image, an assistant tool call and its result, tools, a
// tool choice, a schema and an effort.
var agentTurn = fixtures.Request{Index: 3, OutputTokens: 8, Reasoning: "high", ToolChoice: "auto",
	Tools:  []fixtures.Tool{{Name: "get_weather", Description: "Weather in a city", Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}}}`)}},
	Schema: json.RawMessage(`{"type":"object"}`),
	Messages: []fixtures.Message{
		{Role: "system", Content: "be brief"},
		{Role: "user", Content: "what is this?", Images: []string{png}},
		{Role: "assistant", ToolCalls: []fixtures.ToolCall{{ID: "call_1", Name: "get_weather", Arguments: `{"city":"Oslo"}`}}},
		{Role: "tool", Content: "12 C", ToolCallID: "call_1"},
	}}

func body(t *testing.T, b *Builder, req *fixtures.Request) map[string]any {
	t.Helper()
	raw, err := b.Body(req)
	require.NoError(t, err)
	return decode(t, raw)
}

func TestChatBodyCarriesEverything(t *testing.T) {
	got := body(t, NewBuilder(Chat, "m", Layers{}), &agentTurn)
	want := map[string]any{
		"model": "m", "max_tokens": 8.0, "min_tokens": 8.0, "ignore_eos": true, "stream": true,
		"stream_options": map[string]any{"include_usage": true}, "temperature": 0.0,
		"messages": []any{
			map[string]any{"role": "system", "content": "be brief"},
			map[string]any{"role": "user", "content": []any{
				map[string]any{"type": "text", "text": "what is this?"},
				map[string]any{"type": "image_url", "image_url": map[string]any{"url": png}}}},
			map[string]any{"role": "assistant", "content": "", "tool_calls": []any{map[string]any{"id": "call_1", "type": "function",
				"function": map[string]any{"name": "get_weather", "arguments": `{"city":"Oslo"}`}}}},
			map[string]any{"role": "tool", "content": "12 C", "tool_call_id": "call_1"},
		},
		"tools": []any{map[string]any{"type": "function", "function": map[string]any{"name": "get_weather", "description": "Weather in a city",
			"parameters": map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}}}}},
		"tool_choice":      "auto",
		"response_format":  map[string]any{"type": "json_schema", "json_schema": map[string]any{"name": "perfgate", "schema": map[string]any{"type": "object"}, "strict": true}},
		"reasoning_effort": "high",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("chat body (-want +got):\n%s", diff)
	}
}

func TestResponsesBodyCarriesEverything(t *testing.T) {
	got := body(t, NewBuilder(Responses, "m", Layers{}), &agentTurn)
	want := map[string]any{
		"model": "m", "max_output_tokens": 8.0, "stream": true, "store": false, "temperature": 0.0,
		"input": []any{
			map[string]any{"role": "system", "content": "be brief"},
			map[string]any{"role": "user", "content": []any{
				map[string]any{"type": "input_text", "text": "what is this?"},
				map[string]any{"type": "input_image", "image_url": png}}},
			map[string]any{"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": `{"city":"Oslo"}`},
			map[string]any{"type": "function_call_output", "call_id": "call_1", "output": "12 C"},
		},
		"tools": []any{map[string]any{"type": "function", "name": "get_weather", "description": "Weather in a city",
			"parameters": map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}}}},
		"tool_choice": "auto",
		"text":        map[string]any{"format": map[string]any{"type": "json_schema", "name": "perfgate", "schema": map[string]any{"type": "object"}, "strict": true}},
		"reasoning":   map[string]any{"effort": "high"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("responses body (-want +got):\n%s", diff)
	}
	plain := body(t, NewBuilder(Responses, "m", Layers{}), &fixtures.Request{Text: "hi", OutputTokens: 2})
	assert.Equal(t, "hi", plain["input"], "a prompt is one input string")
}

func TestPoolingBodies(t *testing.T) {
	emb := NewBuilder(Embeddings, "e", Layers{})
	assert.Equal(t, map[string]any{"model": "e", "input": []any{"a", "b c"}, "encoding_format": "float"},
		body(t, emb, &fixtures.Request{Inputs: []string{"a", "b c"}}))
	assert.Equal(t, []any{7.0, 8.0}, body(t, emb, &fixtures.Request{Tokens: []int{7, 8}})["input"], "token ids are one input")
	assert.Equal(t, 2, Embeddings.WantResults(&fixtures.Request{Inputs: []string{"a", "b"}}))
	rr := NewBuilder(Rerank, "r", Layers{})
	assert.Equal(t, map[string]any{"model": "r", "query": "q", "documents": []any{"d1", "d2"}},
		body(t, rr, &fixtures.Request{Query: "q", Documents: []string{"d1", "d2"}}))
	assert.Equal(t, 2, Rerank.WantResults(&fixtures.Request{Documents: []string{"a", "b"}}))
}

// TestRequestsAnAPICannotCarry: a request the API cannot carry fails with a message naming
// the request and what to use, instead of being sent without what it asks for.
func TestRequestsAnAPICannotCarry(t *testing.T) {
	for _, tc := range []struct {
		api  *API
		req  fixtures.Request
		want string
	}{
		{Completions, fixtures.Request{Index: 4, Tokens: []int{1}, Reasoning: "on"}, "request 4 asks for reasoning, which the completions API cannot carry"},
		{Completions, fixtures.Request{Index: 5, Text: "x", Tools: agentTurn.Tools}, "request 5 asks for tools"},
		{Chat, fixtures.Request{Index: 6, Inputs: []string{"a"}}, "request 6 holds embedding or rerank inputs"},
		{Chat, fixtures.Request{Index: 7, Text: "x", Reasoning: "max"}, `request 7: reasoning "max": want off, on, low, medium or high`},
		{Chat, fixtures.Request{Index: 8, Text: "x", Schema: json.RawMessage(`[1]`)}, "request 8: schema"},
		{Embeddings, fixtures.Request{Index: 9}, "request 9 has no inputs to embed"},
		{Embeddings, fixtures.Request{Index: 10, Inputs: []string{"a"}, Tools: agentTurn.Tools}, "the embeddings API cannot carry"},
		{Rerank, fixtures.Request{Index: 11, Query: "q"}, "request 11: a rerank request needs a query and documents"},
	} {
		_, err := NewBuilder(tc.api, "m", Layers{}).Body(&tc.req)
		require.Error(t, err, tc.want)
		assert.Contains(t, err.Error(), tc.want)
	}
}

// TestReasoningLayer: the engine's spelling of a level comes between its fields and
// Case.Extra; without one, an effort is the API's own field and on/off send nothing.
func TestReasoningLayer(t *testing.T) {
	engine := func(level string) map[string]any {
		switch level {
		case "low":
			return nil
		case "medium":
			return map[string]any{"reasoning_effort": nil} // an engine without efforts
		}
		return map[string]any{"chat_template_kwargs": map[string]any{"enable_thinking": level != "off"}, "top_k": 3}
	}
	b := NewBuilder(Chat, "m", Layers{Engine: map[string]any{"top_k": 1}, Reasoning: engine, Extra: map[string]any{"top_k": 2}})
	on := body(t, b, &fixtures.Request{Text: "x", Reasoning: "on"})
	assert.Equal(t, map[string]any{"enable_thinking": true}, on["chat_template_kwargs"])
	assert.Equal(t, 2.0, on["top_k"], "Case.Extra wins over the engine's reasoning fields")
	assert.Equal(t, "low", body(t, b, &fixtures.Request{Text: "x", Reasoning: "low"})["reasoning_effort"], "no engine spelling: the API's")
	assert.NotContains(t, body(t, b, &fixtures.Request{Text: "x", Reasoning: "medium"}), "reasoning_effort", "the engine removed it")
	high := body(t, b, &fixtures.Request{Text: "x", Reasoning: "high"})
	assert.Equal(t, "high", high["reasoning_effort"], "the engine's fields go over the API's effort")
	assert.Equal(t, map[string]any{"enable_thinking": true}, high["chat_template_kwargs"])
	plain := NewBuilder(Chat, "m", Layers{})
	for _, level := range []string{"on", "off", ""} {
		f := body(t, plain, &fixtures.Request{Text: "x", Reasoning: level})
		assert.NotContains(t, f, "reasoning_effort", level)
		assert.NotContains(t, f, "chat_template_kwargs", level)
	}
}

func stream(t *testing.T, a *API, answer string) []Event {
	t.Helper()
	s := a.NewStream()
	s.Reset(strings.NewReader(answer))
	var out []Event
	for {
		ev, err := s.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err)
		ev.Data = nil
		if ev.Usage != nil {
			u := *ev.Usage
			ev.Usage = &u
		}
		out = append(out, ev)
		if ev.Kind == Done {
			return out
		}
	}
}

func TestResponsesStream(t *testing.T) {
	ev := func(typ, data string) string { return "event: " + typ + "\ndata: " + data + "\n\n" }
	evs := stream(t, Responses,
		ev("response.created", `{"response":{"id":"r","usage":null},"sequence_number":0,"type":"response.created"}`)+
			ev("response.reasoning_text.delta", `{"delta":" so","sequence_number":1,"type":"response.reasoning_text.delta"}`)+
			ev("response.function_call_arguments.delta", `{"delta":"{","sequence_number":2,"type":"response.function_call_arguments.delta"}`)+
			ev("response.output_text.delta", `{"delta":" the","sequence_number":3,"type":"response.output_text.delta"}`)+
			ev("response.completed", `{"response":{"usage":{"input_tokens":5,"output_tokens":3,"output_tokens_details":{"reasoning_tokens":1}}},"sequence_number":4,"type":"response.completed"}`))
	var kinds []Kind
	var toks []sse.Token
	for _, e := range evs {
		kinds = append(kinds, e.Kind)
		if e.Kind == Output {
			toks = append(toks, e.Token)
		}
	}
	assert.Equal(t, []Kind{Other, Output, Output, Output, Done}, kinds)
	assert.Equal(t, []sse.Token{sse.Reasoning, sse.ToolCall, sse.Answer}, toks)
	assert.Equal(t, &sse.Usage{PromptTokens: 5, CompletionTokens: 3, ReasoningTokens: 1, HasReasoning: true}, evs[4].Usage)

	evs = stream(t, Responses, ev("error", `{"type":"error","message":"no"}`))
	assert.Equal(t, Failed, evs[0].Kind)
}

func TestPooledStream(t *testing.T) {
	evs := stream(t, Embeddings, `{"data":[{"embedding":[1]},{"embedding":[2]}],"usage":{"prompt_tokens":6,"total_tokens":6}}`)
	require.Len(t, evs, 1)
	assert.Equal(t, Done, evs[0].Kind)
	assert.Equal(t, 2, evs[0].Results)
	assert.Equal(t, 6, evs[0].Usage.PromptTokens)
	assert.Equal(t, Failed, stream(t, Rerank, `{"object":"error","message":"x"}`)[0].Kind)
	assert.Equal(t, Malformed, stream(t, Rerank, `<html>`)[0].Kind)
	bad := stream(t, Embeddings, `{"data":[],"usage":{"prompt_tokens":-6}}`)[0]
	assert.ErrorIs(t, bad.UsageErr, sse.ErrBadUsage)
	assert.Nil(t, bad.Usage)
}

// TestNoAllocPerKindedEvent: reading a reasoning, tool-call or refusal delta on the chat
// stream, or a Responses API delta event (its "event:" line included), allocates nothing,
// as a text token does (TestNoAllocPerToken).
func TestNoAllocPerKindedEvent(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race")
	}
	chat := func(delta string) string {
		return "data: " + `{"id":"chatcmpl-1","object":"chat.completion.chunk","choices":[{"index":0,"delta":` + delta + `,"logprobs":null,"finish_reason":null}]}` + "\n\n"
	}
	resp := func(typ, delta string) string {
		return "event: " + typ + "\ndata: " + `{"content_index":0,"delta":"` + delta + `","item_id":"msg_1","output_index":0,"sequence_number":7,"type":"` + typ + `"}` + "\n\n"
	}
	for _, tc := range []struct {
		name string
		api  *API
		ev   string
		tok  sse.Token
	}{
		{"chat reasoning (vLLM)", Chat, chat(`{"reasoning":" so"}`), sse.Reasoning},
		{"chat reasoning_content (SGLang)", Chat, chat(`{"content":null,"reasoning_content":" so","tool_calls":null}`), sse.Reasoning},
		{"chat tool-call arguments", Chat, chat(`{"tool_calls":[{"index":0,"function":{"arguments":"\"ci"}}]}`), sse.ToolCall},
		{"chat refusal", Chat, chat(`{"refusal":" no"}`), sse.Refusal},
		{"responses reasoning", Responses, resp("response.reasoning_text.delta", " so"), sse.Reasoning},
		{"responses text", Responses, resp("response.output_text.delta", " the"), sse.Answer},
		{"responses arguments", Responses, resp("response.function_call_arguments.delta", `{\"a`), sse.ToolCall},
	} {
		s := tc.api.NewStream()
		s.Reset(strings.NewReader(strings.Repeat(tc.ev, 2000)))
		allocs := testing.AllocsPerRun(1000, func() {
			if ev, err := s.Next(); err != nil || ev.Kind != Output || ev.Token != tc.tok {
				t.Fatalf("%s: unexpected event %v %v", tc.name, ev, err)
			}
		})
		assert.Zero(t, allocs, tc.name)
	}
}

package api

import (
	"io"

	"github.com/perfgate/perfgate/fixtures"
	"github.com/perfgate/perfgate/perftest/internal/sse"
)

// The Responses API's spelling of a conversation: input items (OpenAI's
// ResponseInputItemParam, which vLLM and SGLang take): messages whose content parts are
// input_text and input_image, tool calls as function_call items and their results as
// function_call_output items.
type (
	respMessage struct {
		Role    string `json:"role"`
		Content any    `json:"content"` // text, or input parts when it carries images
	}
	respPart struct {
		Type     string `json:"type"`
		Text     string `json:"text,omitempty"`
		ImageURL string `json:"image_url,omitempty"`
	}
	respCall struct {
		Type      string `json:"type"` // function_call
		CallID    string `json:"call_id"`
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	}
	respCallOutput struct {
		Type   string `json:"type"` // function_call_output
		CallID string `json:"call_id"`
		Output string `json:"output"`
	}
	respTool struct {
		Type        string `json:"type"` // function
		Name        string `json:"name"`
		Description string `json:"description,omitempty"`
		Parameters  any    `json:"parameters,omitempty"`
	}
)

// responsesFields is a streamed Responses API request: the output length as
// max_output_tokens (the API has no min_tokens or ignore_eos: a model may stop early, so
// set Case.AllowShortOutputs for a real model), greedy sampling, nothing stored on the
// server (store: false, so that a benchmark does not grow the server's memory), the input
// as one string or as items, tools flat as the API has them, a schema as text.format.
func responsesFields(model string, req *fixtures.Request) (map[string]any, error) {
	if err := chatRefuses(req); err != nil {
		return nil, err
	}
	f := map[string]any{
		"model":             model,
		"max_output_tokens": req.OutputTokens,
		"stream":            true,
		"store":             false,
		"temperature":       0,
		"input":             responsesInput(req),
	}
	if len(req.Tools) > 0 {
		tools := make([]respTool, len(req.Tools))
		for i, t := range req.Tools {
			tools[i] = respTool{Type: "function", Name: t.Name, Description: t.Description}
			if len(t.Parameters) > 0 {
				tools[i].Parameters = t.Parameters
			}
		}
		f["tools"] = tools
	}
	if req.ToolChoice != "" {
		f["tool_choice"] = req.ToolChoice
	}
	if len(req.Schema) > 0 {
		f["text"] = map[string]any{"format": map[string]any{"type": "json_schema", "name": schemaName, "schema": req.Schema, "strict": true}}
	}
	return f, nil
}

// responsesInput is the request's input: its text (or token ids as words), or its
// conversation as items.
func responsesInput(req *fixtures.Request) any {
	if len(req.Messages) == 0 {
		return chatMessages(req)[0].Content
	}
	var items []any
	for _, m := range req.Messages {
		if m.Role == "tool" {
			items = append(items, respCallOutput{Type: "function_call_output", CallID: m.ToolCallID, Output: m.Content})
			continue
		}
		if m.Content != "" || len(m.Images) > 0 || len(m.ToolCalls) == 0 {
			items = append(items, respMessage{Role: m.Role, Content: responsesContent(m)})
		}
		for _, c := range m.ToolCalls {
			items = append(items, respCall{Type: "function_call", CallID: c.ID, Name: c.Name, Arguments: c.Arguments})
		}
	}
	return items
}

// responsesContent is a message's text, or its text and images as input parts.
func responsesContent(m fixtures.Message) any {
	return withImages(m, func(text string) respPart { return respPart{Type: "input_text", Text: text} },
		func(url string) respPart { return respPart{Type: "input_image", ImageURL: url} })
}

// responsesEffort asks for a reasoning effort the way the Responses API does.
func responsesEffort(level string) map[string]any {
	return map[string]any{"reasoning": map[string]any{"effort": level}}
}

// responsesStream reads a Responses API stream: "event: TYPE" and "data: JSON" per event,
// no [DONE] (vLLM's entrypoints/openai/responses/api_router.py), the usage on
// response.completed.
type responsesStream struct {
	rd     *sse.Reader
	parsed sse.Usage
}

func newResponsesStream() Stream { return &responsesStream{rd: sse.NewReader(nil)} }

func (s *responsesStream) Reset(r io.Reader) { s.rd.Reset(r) }

func (s *responsesStream) Next() (Event, error) {
	ev, err := s.rd.Next()
	if err != nil {
		return Event{}, err
	}
	out := Event{Kind: Other, At: ev.At, Data: ev.Data}
	ch := sse.ParseResponseEvent(ev.Data)
	switch {
	case ch.Kind == sse.ErrorChunk || ev.Error && ch.Kind != sse.DoneChunk:
		out.Kind = Failed
	case ch.Kind == sse.TokenChunk:
		out.Kind, out.Tokens, out.Token = Output, 1, ch.Token
	case ch.Kind == sse.DoneChunk:
		out.Kind = Done
		out.Usage, out.UsageErr = parseUsage(ch.Usage, &s.parsed)
	case ch.Kind == sse.MalformedChunk:
		out.Kind = Malformed
	}
	return out, nil
}

package api

import (
	"encoding/json"
	"fmt"

	"github.com/perfgate/perfgate/fixtures"
)

// The chat API's spelling of a conversation (OpenAI's chat completions, which vLLM, SGLang,
// TensorRT-LLM, llama.cpp and Dynamo take).
type (
	chatMessage struct {
		Role string `json:"role"`
		// Content is the text, or content parts when the message carries images.
		Content    any            `json:"content"`
		ToolCalls  []chatToolCall `json:"tool_calls,omitempty"`
		ToolCallID string         `json:"tool_call_id,omitempty"`
	}
	contentPart struct {
		Type     string    `json:"type"`
		Text     string    `json:"text,omitempty"`
		ImageURL *imageURL `json:"image_url,omitempty"`
	}
	imageURL struct {
		URL string `json:"url"`
	}
	chatToolCall struct {
		ID       string       `json:"id"`
		Type     string       `json:"type"`
		Function functionCall `json:"function"`
	}
	functionCall struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	}
	chatTool struct {
		Type     string       `json:"type"`
		Function toolFunction `json:"function"`
	}
	toolFunction struct {
		Name        string          `json:"name"`
		Description string          `json:"description,omitempty"`
		Parameters  json.RawMessage `json:"parameters,omitempty"`
	}
)

// chatFields sends the request's messages, or its prompt as one user message: a prompt of
// token ids becomes text, one word per id (fixtures.Text), so that the input has the
// requested length in words. Images become image_url content parts after the text, tools
// and tool calls OpenAI's function tools, a schema a json_schema response_format.
func chatFields(model string, req *fixtures.Request) (map[string]any, error) {
	if err := chatRefuses(req); err != nil {
		return nil, err
	}
	f := generation(model, req)
	f["messages"] = chatMessages(req)
	if len(req.Tools) > 0 {
		tools := make([]chatTool, len(req.Tools))
		for i, t := range req.Tools {
			tools[i] = chatTool{Type: "function", Function: toolFunction(t)}
		}
		f["tools"] = tools
	}
	if req.ToolChoice != "" {
		f["tool_choice"] = req.ToolChoice
	}
	if len(req.Schema) > 0 {
		f["response_format"] = map[string]any{"type": "json_schema",
			"json_schema": map[string]any{"name": schemaName, "schema": req.Schema, "strict": true}}
	}
	return f, nil
}

// schemaName names the schema of a structured-output request (OpenAI requires a name).
const schemaName = "perfgate"

// chatRefuses says why the chat API cannot carry req.
func chatRefuses(req *fixtures.Request) error {
	if len(req.Inputs) > 0 || len(req.Documents) > 0 {
		return fmt.Errorf("request %d holds embedding or rerank inputs: send it to the embeddings or rerank API", req.Index)
	}
	if err := checkSchema(req); err != nil {
		return err
	}
	return checkReasoning(req)
}

// checkSchema returns an error for a schema that is not a JSON object.
func checkSchema(req *fixtures.Request) error {
	var obj map[string]json.RawMessage
	if len(req.Schema) > 0 && json.Unmarshal(req.Schema, &obj) != nil {
		return fmt.Errorf("request %d: schema %.80q is not a JSON object", req.Index, req.Schema)
	}
	return nil
}

// chatMessages is the request's conversation in the chat API's spelling.
func chatMessages(req *fixtures.Request) []chatMessage {
	switch {
	case len(req.Messages) > 0:
		out := make([]chatMessage, len(req.Messages))
		for i, m := range req.Messages {
			out[i] = chatMessage{Role: m.Role, Content: chatContent(m), ToolCallID: m.ToolCallID}
			for _, c := range m.ToolCalls {
				out[i].ToolCalls = append(out[i].ToolCalls, chatToolCall{ID: c.ID, Type: "function", Function: functionCall{c.Name, c.Arguments}})
			}
		}
		return out
	case req.Text == "" && len(req.Tokens) > 0:
		return []chatMessage{{Role: "user", Content: fixtures.Text(req.Tokens)}}
	}
	return []chatMessage{{Role: "user", Content: req.Text}}
}

// chatContent is a message's text, or its text and images as content parts.
func chatContent(m fixtures.Message) any {
	return withImages(m, func(text string) contentPart { return contentPart{Type: "text", Text: text} },
		func(url string) contentPart { return contentPart{Type: "image_url", ImageURL: &imageURL{URL: url}} })
}

// withImages is a message's text, or, when it carries images, its text then its images as
// content parts of an API's spelling.
func withImages[P any](m fixtures.Message, text, image func(string) P) any {
	if len(m.Images) == 0 {
		return m.Content
	}
	parts := make([]P, 0, len(m.Images)+1)
	if m.Content != "" {
		parts = append(parts, text(m.Content))
	}
	for _, url := range m.Images {
		parts = append(parts, image(url))
	}
	return parts
}

// chatEffort asks for a reasoning effort the way OpenAI's chat API does.
func chatEffort(level string) map[string]any { return map[string]any{"reasoning_effort": level} }

// Package api is perftest's request layer: for each OpenAI-compatible API, where its
// requests go, the body perftest sends, and how its answer is read. The client sends and
// times; this package says what to send and turns what came back into events; the runner
// classifies the events into outcomes. One API is one value of [API].
//
// The seams for what comes next: a new API (the Responses API at /v1/responses,
// embeddings, rerank) is a new [API] value with its own fields function and [Stream]; a
// stream whose events are named by an "event:" line, or a JSON body that does not stream at
// all, is a new Stream implementation; chunks whose deltas carry reasoning
// ("reasoning", "reasoning_content"), tool-call arguments or refusals instead of text are
// told apart in the chunk decoder (internal/sse.Parse) and reported through [Event]. The
// sender (perftest's client) needs none of them changed.
package api

import (
	"github.com/perfgate/perfgate/fixtures"
)

// API is one OpenAI-compatible API.
type API struct {
	// Name is the API's name: the result's "api" config value, and what engine modules are
	// asked about ("completions", "chat").
	Name string
	// Path is where its requests go, under the server's root.
	Path string
	// Accept is the Accept header of its requests.
	Accept string
	// fields returns the members of a request's body: perftest's defaults and the request's
	// input. A prompt of token ids is left out when splice is set: it is written directly
	// (see Builder.Body).
	fields func(model string, req *fixtures.Request) map[string]any
	// splice says that token-id prompts are spliced into the body as "prompt".
	splice bool
	// stream returns a new reader of the API's answers.
	stream func() Stream
}

// NewStream returns a reader of the API's answers, to be reused request after request.
func (a *API) NewStream() Stream { return a.stream() }

// The APIs perftest speaks.
var (
	// Completions is /v1/completions: prompts as token ids (exact input length) or text.
	Completions = &API{Name: "completions", Path: "/v1/completions", Accept: "text/event-stream",
		fields: completionFields, splice: true, stream: newChunkStream}
	// Chat is /v1/chat/completions: the server applies a chat template.
	Chat = &API{Name: "chat", Path: "/v1/chat/completions", Accept: "text/event-stream",
		fields: chatFields, stream: newChunkStream}
)

// generation is the body every streamed generation starts from: the exact output length
// (max_tokens, with min_tokens and ignore_eos so that the model does not stop early),
// greedy sampling, and usage at the end of the stream.
func generation(model string, req *fixtures.Request) map[string]any {
	return map[string]any{
		"model":          model,
		"max_tokens":     req.OutputTokens,
		"min_tokens":     req.OutputTokens,
		"ignore_eos":     true,
		"stream":         true,
		"stream_options": map[string]any{"include_usage": true},
		"temperature":    0,
	}
}

// completionFields puts a text prompt in "prompt"; a prompt of token ids is spliced in.
func completionFields(model string, req *fixtures.Request) map[string]any {
	f := generation(model, req)
	if len(req.Tokens) == 0 {
		f["prompt"] = req.Text
	}
	return f
}

// chatFields sends the request's messages, or its prompt as one user message: a prompt of
// token ids becomes text, one word per id (fixtures.Text), so that the input has the
// requested length in words.
func chatFields(model string, req *fixtures.Request) map[string]any {
	f := generation(model, req)
	switch {
	case len(req.Messages) > 0:
		f["messages"] = req.Messages
	case req.Text == "" && len(req.Tokens) > 0:
		f["messages"] = []fixtures.Message{{Role: "user", Content: fixtures.Text(req.Tokens)}}
	default:
		f["messages"] = []fixtures.Message{{Role: "user", Content: req.Text}}
	}
	return f
}

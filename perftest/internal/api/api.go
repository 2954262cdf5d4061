// Package api is perftest's request layer: for each OpenAI-compatible API, where its
// requests go, the body perftest sends, and how its answer is read. The client sends and
// times; this package says what to send and turns what came back into events; the runner
// classifies the events into outcomes. One API is one value of [API].
//
// Each API is one [API] value with its own body and [Stream]: completions and chat stream
// "data:" chunks; the Responses API streams events named by their type; embeddings and
// rerank answer with one JSON body. What a request asks beyond text (reasoning, tools, a
// schema, images: fixtures.Request's fields) each API spells its own way here, and an
// engine's own spellings come in as a layer of the [Builder]. Every token an answer streams
// is reported with its kind (answer text, reasoning, tool-call arguments, a refusal), told
// apart by the chunk decoders of internal/sse. The sender (perftest's client) is the same
// for every API.
package api

import (
	"fmt"
	"slices"
	"strings"

	"github.com/perfgate/perfgate/fixtures"
)

// API is one OpenAI-compatible API.
type API struct {
	// Name is the API's name: the result's "api" config value, and what engine modules are
	// asked about ("completions", "chat", "responses", "embeddings", "rerank").
	Name string
	// Path is where its requests go, under the server's root, unless the engine says
	// otherwise.
	Path string
	// Accept is the Accept header of its requests.
	Accept string
	// Pooling says the API answers with one JSON body instead of a stream of tokens
	// (embeddings, rerank): it is measured by its latency and how many inputs it took.
	Pooling bool
	// fields returns the members of a request's body: perftest's defaults and the request's
	// input, or why the API cannot carry the request. A prompt of token ids is left out when
	// splice is set: it is written directly (see Builder.Body).
	fields func(model string, req *fixtures.Request) (map[string]any, error)
	// splice says that token-id prompts are spliced into the body as "prompt".
	splice bool
	// stream returns a new reader of the API's answers.
	stream func() Stream
	// effort returns the fields that ask a reasoning model for an effort ("low", "medium",
	// "high") in the API's own spelling; nil: the API has none.
	effort func(level string) map[string]any
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
		fields: chatFields, stream: newChunkStream, effort: chatEffort}
	// Responses is /v1/responses, OpenAI's Responses API (vLLM, SGLang, TensorRT-LLM,
	// llama.cpp serve it): events named by their type, usage on the last one.
	Responses = &API{Name: "responses", Path: "/v1/responses", Accept: "text/event-stream",
		fields: responsesFields, stream: newResponsesStream, effort: responsesEffort}
	// Embeddings is /v1/embeddings: a batch of inputs, one embedding each, in one answer.
	Embeddings = &API{Name: "embeddings", Path: "/v1/embeddings", Accept: "application/json", Pooling: true,
		fields: embeddingFields, stream: newPooledStream}
	// Rerank is /v1/rerank (vLLM, SGLang, llama.cpp): documents scored against a query,
	// in one answer.
	Rerank = &API{Name: "rerank", Path: "/v1/rerank", Accept: "application/json", Pooling: true,
		fields: rerankFields, stream: newPooledStream}
)

// Reasoning levels a request may ask for (fixtures.Request.Reasoning).
var reasoningLevels = []string{"off", "on", "low", "medium", "high"}

// checkReasoning returns an error for a reasoning level perftest does not know.
func checkReasoning(req *fixtures.Request) error {
	if req.Reasoning != "" && !slices.Contains(reasoningLevels, req.Reasoning) {
		return fmt.Errorf("request %d: reasoning %q: want off, on, low, medium or high", req.Index, req.Reasoning)
	}
	return nil
}

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
func completionFields(model string, req *fixtures.Request) (map[string]any, error) {
	if err := completionRefuses(req); err != nil {
		return nil, err
	}
	f := generation(model, req)
	if len(req.Tokens) == 0 {
		f["prompt"] = req.Text
	}
	return f, nil
}

// completionRefuses says why the completions API cannot carry req: it has no chat
// template, so no way to send images, tools, a schema or turn reasoning on.
func completionRefuses(req *fixtures.Request) error {
	var what []string
	if req.Reasoning != "" {
		what = append(what, "reasoning")
	}
	if len(req.Tools) > 0 {
		what = append(what, "tools")
	}
	if len(req.Schema) > 0 {
		what = append(what, "a schema")
	}
	if slices.ContainsFunc(req.Messages, func(m fixtures.Message) bool { return len(m.Images) > 0 }) {
		what = append(what, "images")
	}
	if len(req.Inputs) > 0 || len(req.Documents) > 0 {
		what = append(what, "embedding or rerank inputs")
	}
	if len(what) == 0 {
		return nil
	}
	return fmt.Errorf("request %d asks for %s, which the completions API cannot carry (use the chat or responses API, or embeddings or rerank for inputs)",
		req.Index, strings.Join(what, " and "))
}

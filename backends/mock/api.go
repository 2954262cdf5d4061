package mock

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/http"
	"strings"
)

// apiError is an OpenAI-style error answer.
type apiError struct {
	status int
	typ    string
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func badRequest(format string, args ...any) *apiError {
	return &apiError{http.StatusBadRequest, "BadRequestError", fmt.Sprintf(format, args...)}
}

func writeError(w http.ResponseWriter, e *apiError) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.status)
	b, _ := json.Marshal(map[string]any{"error": map[string]any{
		"message": e.msg, "type": e.typ, "param": nil, "code": e.status,
	}})
	w.Write(b)
}

// apiKind is the API a request came in on.
type apiKind uint8

const (
	apiCompletions apiKind = iota // POST /v1/completions
	apiChat                       // POST /v1/chat/completions
	apiResponses                  // POST /v1/responses
	apiEmbeddings                 // POST /v1/embeddings
	apiScore                      // POST /score, /v1/score
	apiRerank                     // POST /rerank, /v1/rerank, /v2/rerank
)

// apiName is how vLLM names the API in "The model does not support ... API".
var apiName = [...]string{"Completions", "Chat Completions", "Responses", "Embeddings", "Score", "Rerank (Score)"}

// apiRequest is a decoded, validated request.
type apiRequest struct {
	api             apiKind
	model           string
	tokens          []int
	maxTokens       int
	stream          bool
	includeUsage    bool
	continuousUsage bool // stream_options.continuous_usage_stats: usage on every chunk
	out             output
	images          []imageRef
	imageTokens     int
	pool            poolRequest // embeddings, score, rerank
}

func (r *apiRequest) chat() bool { return r.api == apiChat }

type wireMessage struct {
	Role      string          `json:"role"`
	Content   json.RawMessage `json:"content"`
	ToolCalls []struct {
		Function struct {
			Name      string `json:"name"`
			Arguments string `json:"arguments"`
		} `json:"function"`
	} `json:"tool_calls"`
}

type wireRequest struct {
	Model               string          `json:"model"`
	Prompt              json.RawMessage `json:"prompt"`
	Messages            []wireMessage   `json:"messages"`
	MaxTokens           *int            `json:"max_tokens"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	MinTokens           int             `json:"min_tokens"`
	N                   *int            `json:"n"`
	Stream              bool            `json:"stream"`
	StreamOptions       *struct {
		IncludeUsage         bool `json:"include_usage"`
		ContinuousUsageStats bool `json:"continuous_usage_stats"`
	} `json:"stream_options"`
	wireChatExtras
}

// Default output lengths when the request names none: vLLM's 16 for completions; a bounded
// length for chat, where a real model would stop at its end-of-sequence token.
const (
	defaultCompletionTokens = 16
	defaultChatTokens       = 1024
)

// decodeRequest parses and validates a request body for api on a server configured by
// cfg (after defaults). Unknown fields are ignored.
func decodeRequest(body []byte, api apiKind, cfg *Config) (apiRequest, *apiError) {
	if pooling := api >= apiEmbeddings; pooling != cfg.pooling() {
		return apiRequest{}, badRequest("The model does not support %s API", apiName[api])
	}
	switch api {
	case apiResponses:
		return decodeResponses(body, cfg)
	case apiEmbeddings, apiScore, apiRerank:
		return decodePooling(body, api, cfg)
	}
	chat := api == apiChat
	var w wireRequest
	if err := json.Unmarshal(body, &w); err != nil {
		return apiRequest{}, badRequest("invalid JSON body: %v", err)
	}
	r := apiRequest{api: api, stream: w.Stream}
	if err := checkModel(w.Model, cfg.Model); err != nil {
		return apiRequest{}, err
	}
	r.model = cfg.Model
	if w.StreamOptions != nil {
		if !w.Stream {
			return apiRequest{}, badRequest("stream_options can only be set when stream is true")
		}
		r.includeUsage = w.StreamOptions.IncludeUsage
		r.continuousUsage = r.includeUsage && w.StreamOptions.ContinuousUsageStats
	}
	if w.N != nil && *w.N != 1 {
		return apiRequest{}, badRequest("n must be 1, got %d", *w.N)
	}
	ws, err := w.wants(chat)
	if err != nil {
		return apiRequest{}, err
	}
	if chat {
		if len(w.Messages) == 0 {
			return apiRequest{}, badRequest("messages must not be empty")
		}
		r.tokens = toolTokens(nil, ws.tools)
		r.tokens, r.images, err = chatTokens(r.tokens, w.Messages, cfg)
	} else {
		r.tokens, err = promptTokens(w.Prompt, false)
	}
	if err != nil {
		return apiRequest{}, err
	}
	mt := w.MaxTokens
	if chat && w.MaxCompletionTokens != nil {
		mt = w.MaxCompletionTokens
	}
	if err := r.setMaxTokens(mt, chat, w.MinTokens, cfg.MaxModelLen); err != nil {
		return apiRequest{}, err
	}
	return r.planned(&ws, cfg)
}

// checkModel answers 404 for a model the server does not serve ("" means it).
func checkModel(model, served string) *apiError {
	if model != "" && model != served {
		return &apiError{http.StatusNotFound, "NotFoundError", fmt.Sprintf("The model `%s` does not exist.", model)}
	}
	return nil
}

// setMaxTokens sets the output length from the request's max tokens (nil: the API's
// default) and checks it, and min_tokens, against the context length.
func (r *apiRequest) setMaxTokens(mt *int, long bool, minTokens, maxModelLen int) *apiError {
	switch {
	case mt != nil:
		r.maxTokens = *mt
		if r.maxTokens <= 0 {
			return badRequest("max_tokens must be at least 1, got %d", r.maxTokens)
		}
	case long:
		r.maxTokens = max(1, min(defaultChatTokens, maxModelLen-len(r.tokens)))
	default:
		r.maxTokens = defaultCompletionTokens
	}
	if minTokens < 0 || minTokens > r.maxTokens {
		return badRequest("min_tokens must be in [0, max_tokens], got %d", minTokens)
	}
	if n := len(r.tokens); n >= maxModelLen || n+r.maxTokens > maxModelLen {
		return badRequest("This model's maximum context length is %d tokens. However, you requested %d tokens (%d in the messages, %d in the completion). Please reduce the length of the messages or completion.",
			maxModelLen, n+r.maxTokens, n, r.maxTokens)
	}
	return nil
}

// planned decides the request's output (see wants.plan) and returns it.
func (r apiRequest) planned(ws *wants, cfg *Config) (apiRequest, *apiError) {
	out, err := ws.plan(cfg, r.api, r.maxTokens, requestDraw(r.tokens, cfg.Seed))
	if err != nil {
		return apiRequest{}, err
	}
	r.out = out
	for _, im := range r.images {
		r.imageTokens += im.tokens
	}
	return r, nil
}

// promptTokens reads a completions prompt: a list of token ids, a string, or a list of one
// string or one list of token ids.
func promptTokens(raw json.RawMessage, nested bool) ([]int, *apiError) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, badRequest("prompt is required")
	}
	var toks []int
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, badRequest("invalid prompt: %v", err)
		}
		toks = textTokens(nil, s)
	case '[':
		if err := json.Unmarshal(raw, &toks); err != nil {
			var batch []json.RawMessage
			if err2 := json.Unmarshal(raw, &batch); err2 != nil {
				return nil, badRequest("invalid prompt: %v", err2)
			}
			if nested {
				return nil, badRequest("invalid prompt: %v", err)
			}
			if len(batch) != 1 {
				return nil, badRequest("prompt must be a list of token ids, a string, or a list of one of them; got a batch of %d", len(batch))
			}
			return promptTokens(batch[0], true)
		}
		for _, t := range toks {
			if t < 0 {
				return nil, badRequest("token id %d is out of vocabulary", t)
			}
		}
	default:
		return nil, badRequest("prompt must be a list of token ids or a string")
	}
	if len(toks) == 0 {
		return nil, badRequest("prompt must not be empty")
	}
	return toks, nil
}

// Chat template tokens: each message becomes <role> content... <end>, then the assistant
// turn opens.
const (
	tokRoleSystem = 1 + iota
	tokRoleUser
	tokRoleAssistant
	tokRoleOther
	tokEnd
	textVocabBase = 100
	textVocab     = 32000
)

// chatTokens appends a conversation's tokens to toks: each message's role token, its
// text (and an assistant's tool calls), the placeholder tokens of its images, an end
// token; then the assistant token that opens the answer. It returns the images too.
func chatTokens(toks []int, msgs []wireMessage, cfg *Config) ([]int, []imageRef, *apiError) {
	var images []imageRef
	for i, m := range msgs {
		switch m.Role {
		case "system", "developer":
			toks = append(toks, tokRoleSystem)
		case "user":
			toks = append(toks, tokRoleUser)
		case "assistant":
			toks = append(toks, tokRoleAssistant)
		case "tool":
			toks = append(toks, tokRoleOther)
		default:
			return nil, nil, badRequest("messages[%d]: unknown role %q", i, m.Role)
		}
		var err *apiError
		toks, images, err = contentTokens(toks, images, m.Content, fmt.Sprintf("messages[%d].content", i))
		if err != nil {
			return nil, nil, err
		}
		for _, c := range m.ToolCalls {
			toks = textTokens(toks, c.Function.Name+" "+c.Function.Arguments)
		}
		toks = append(toks, tokEnd)
	}
	if limit := cfg.limitMM("image"); len(images) > limit {
		return nil, nil, errTooManyImages(limit)
	}
	return append(toks, tokRoleAssistant), images, nil
}

// contentPart is a part of a message's content: text, or an image (chat's image_url, the
// Responses API's input_image).
type contentPart struct {
	Type     string          `json:"type"`
	Text     string          `json:"text"`
	ImageURL json.RawMessage `json:"image_url"`
}

// contentTokens appends the tokens of a message's content (a string or a list of parts)
// to toks, and its images to images; where names the content in errors.
func contentTokens(toks []int, images []imageRef, content json.RawMessage, where string) ([]int, []imageRef, *apiError) {
	c := bytes.TrimSpace(content)
	switch {
	case len(c) == 0 || bytes.Equal(c, []byte("null")):
	case c[0] == '"':
		var s string
		if err := json.Unmarshal(c, &s); err != nil {
			return nil, nil, badRequest("%s: %v", where, err)
		}
		toks = textTokens(toks, s)
	case c[0] == '[':
		var parts []contentPart
		if err := json.Unmarshal(c, &parts); err != nil {
			return nil, nil, badRequest("%s: %v", where, err)
		}
		for j, p := range parts {
			if p.Type != "image_url" && p.Type != "input_image" {
				toks = textTokens(toks, p.Text)
				continue
			}
			im, err := partImage(p.ImageURL)
			if err != nil {
				return nil, nil, badRequest("%s[%d]: %v", where, j, err)
			}
			images = append(images, im)
			toks = appendImageTokens(toks, im)
		}
	default:
		return nil, nil, badRequest("%s must be a string or a list of parts", where)
	}
	return toks, images, nil
}

// partImage reads an image part's URL: {"url": ...} (chat) or a string (Responses).
func partImage(raw json.RawMessage) (imageRef, error) {
	var url string
	if json.Unmarshal(raw, &url) != nil {
		var obj struct {
			URL string `json:"url"`
		}
		if err := json.Unmarshal(raw, &obj); err != nil {
			return imageRef{}, fmt.Errorf("image_url: %w", err)
		}
		url = obj.URL
	}
	return parseImageURL(url)
}

// textTokens maps text to token ids without a tokenizer: one token per whitespace-separated
// word, its id a hash of the word. Equal texts give equal ids, so equal text prefixes share
// cache blocks.
func textTokens(dst []int, text string) []int {
	for w := range strings.FieldsSeq(text) {
		h := fnv.New32a()
		h.Write([]byte(w))
		dst = append(dst, textVocabBase+int(h.Sum32()%textVocab))
	}
	return dst
}

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

// apiRequest is a decoded, validated completion or chat request.
type apiRequest struct {
	chat         bool
	model        string
	tokens       []int
	maxTokens    int
	stream       bool
	includeUsage bool
}

type wireMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
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
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

// Default output lengths when the request names none: vLLM's 16 for completions; a bounded
// length for chat, where a real model would stop at its end-of-sequence token.
const (
	defaultCompletionTokens = 16
	defaultChatTokens       = 1024
)

// decodeRequest parses and validates a request body. Unknown fields are ignored.
func decodeRequest(body []byte, chat bool, served string, maxModelLen int) (apiRequest, *apiError) {
	var w wireRequest
	if err := json.Unmarshal(body, &w); err != nil {
		return apiRequest{}, badRequest("invalid JSON body: %v", err)
	}
	r := apiRequest{chat: chat, model: w.Model, stream: w.Stream}
	if w.Model != "" && w.Model != served {
		return apiRequest{}, &apiError{http.StatusNotFound, "NotFoundError", fmt.Sprintf("The model `%s` does not exist.", w.Model)}
	}
	r.model = served
	if w.StreamOptions != nil {
		if !w.Stream {
			return apiRequest{}, badRequest("stream_options can only be set when stream is true")
		}
		r.includeUsage = w.StreamOptions.IncludeUsage
	}
	if w.N != nil && *w.N != 1 {
		return apiRequest{}, badRequest("n must be 1, got %d", *w.N)
	}
	var err *apiError
	if chat {
		if len(w.Messages) == 0 {
			return apiRequest{}, badRequest("messages must not be empty")
		}
		r.tokens, err = chatTokens(w.Messages)
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
	switch {
	case mt != nil:
		r.maxTokens = *mt
		if r.maxTokens <= 0 {
			return apiRequest{}, badRequest("max_tokens must be at least 1, got %d", r.maxTokens)
		}
	case chat:
		r.maxTokens = max(1, min(defaultChatTokens, maxModelLen-len(r.tokens)))
	default:
		r.maxTokens = defaultCompletionTokens
	}
	if w.MinTokens < 0 || w.MinTokens > r.maxTokens {
		return apiRequest{}, badRequest("min_tokens must be in [0, max_tokens], got %d", w.MinTokens)
	}
	if n := len(r.tokens); n >= maxModelLen || n+r.maxTokens > maxModelLen {
		return apiRequest{}, badRequest("This model's maximum context length is %d tokens. However, you requested %d tokens (%d in the messages, %d in the completion). Please reduce the length of the messages or completion.",
			maxModelLen, n+r.maxTokens, n, r.maxTokens)
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

func chatTokens(msgs []wireMessage) ([]int, *apiError) {
	var toks []int
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
			return nil, badRequest("messages[%d]: unknown role %q", i, m.Role)
		}
		c := bytes.TrimSpace(m.Content)
		switch {
		case len(c) == 0 || bytes.Equal(c, []byte("null")):
		case c[0] == '"':
			var s string
			if err := json.Unmarshal(c, &s); err != nil {
				return nil, badRequest("messages[%d].content: %v", i, err)
			}
			toks = textTokens(toks, s)
		case c[0] == '[':
			var parts []struct {
				Type string `json:"type"`
				Text string `json:"text"`
			}
			if err := json.Unmarshal(c, &parts); err != nil {
				return nil, badRequest("messages[%d].content: %v", i, err)
			}
			for _, p := range parts {
				toks = textTokens(toks, p.Text)
			}
		default:
			return nil, badRequest("messages[%d].content must be a string or a list of parts", i)
		}
		toks = append(toks, tokEnd)
	}
	return append(toks, tokRoleAssistant), nil
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

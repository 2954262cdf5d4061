package mock

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// tokenText is the text of every generated token: one word per token, so that a client that
// counts words counts tokens.
const tokenText = " tok"

// responder writes one response: SSE chunks while streaming, one JSON body otherwise. The
// per-token chunks are built once per request, so streaming does not allocate per token.
type responder struct {
	w       http.ResponseWriter
	fl      http.Flusher
	req     apiRequest
	id      string
	created int64
	plan    faultPlan
	faultAt int
	stall   time.Duration

	mid, first, last []byte // chunk for a middle token, the first token, the last token
}

func newResponder(w http.ResponseWriter, req apiRequest, id uint64, created int64, plan faultPlan, stall time.Duration) *responder {
	rw := &responder{w: w, req: req, created: created, plan: plan, faultAt: req.maxTokens / 2, stall: stall}
	rw.fl, _ = w.(http.Flusher)
	if req.chat {
		rw.id = "chatcmpl-" + strconv.FormatUint(id, 10)
	} else {
		rw.id = "cmpl-" + strconv.FormatUint(id, 10)
	}
	if !req.stream {
		return rw
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	head := `data: {"id":"` + rw.id + `","object":"`
	if req.chat {
		head += `chat.completion.chunk`
	} else {
		head += `text_completion`
	}
	head += `","created":` + strconv.FormatInt(created, 10) + `,"model":` + strconv.Quote(req.model) + `,"choices":[{"index":0,`
	chunk := func(role bool, finish string) []byte {
		var b strings.Builder
		b.WriteString(head)
		if req.chat {
			b.WriteString(`"delta":{`)
			if role {
				b.WriteString(`"role":"assistant",`)
			}
			b.WriteString(`"content":"` + tokenText + `"},"logprobs":null,"finish_reason":`)
		} else {
			b.WriteString(`"text":"` + tokenText + `","logprobs":null,"finish_reason":`)
		}
		b.WriteString(finish)
		b.WriteString(`,"stop_reason":null}]}` + "\n\n")
		return []byte(b.String())
	}
	rw.mid = chunk(false, "null")
	rw.first = chunk(true, "null")
	rw.last = chunk(false, `"length"`)
	if req.maxTokens == 1 {
		rw.last = chunk(true, `"length"`)
	}
	w.WriteHeader(http.StatusOK)
	return rw
}

func (rw *responder) flush() {
	if rw.fl != nil && rw.req.stream {
		rw.fl.Flush()
	}
}

// token writes token i (from 0). It reports false if the response must end.
func (rw *responder) token(i int, q *seq, ctx context.Context, quit <-chan struct{}) bool {
	if i == rw.faultAt {
		if rw.plan.disconnect {
			rw.flush()
			panic(http.ErrAbortHandler) // net/http closes the connection without a clean end
		}
		if rw.plan.stall {
			rw.flush()
			t := time.NewTimer(rw.stall)
			defer t.Stop()
			select {
			case <-t.C:
			case <-ctx.Done():
				return false
			case <-quit:
				return false
			}
		}
		if rw.plan.malformed && rw.req.stream {
			rw.w.Write([]byte(`data: {"id":"` + rw.id + `","object":` + "\n\n"))
		}
	}
	if !rw.req.stream {
		return true
	}
	var b []byte
	switch {
	case i == rw.req.maxTokens-1:
		b = rw.last
	case i == 0 && rw.req.chat:
		b = rw.first
	default:
		b = rw.mid
	}
	_, err := rw.w.Write(b)
	return err == nil
}

type usage struct {
	PromptTokens        int `json:"prompt_tokens"`
	TotalTokens         int `json:"total_tokens"`
	CompletionTokens    int `json:"completion_tokens"`
	PromptTokensDetails struct {
		CachedTokens int `json:"cached_tokens"`
	} `json:"prompt_tokens_details"`
}

func (rw *responder) usage(q *seq) usage {
	u := usage{PromptTokens: q.promptLen, CompletionTokens: q.maxTokens, TotalTokens: q.promptLen + q.maxTokens}
	u.PromptTokensDetails.CachedTokens = q.cachedTokens
	return u
}

// finish ends the response after the last token.
func (rw *responder) finish(q *seq) {
	if rw.req.stream {
		if rw.req.includeUsage {
			obj := "text_completion"
			if rw.req.chat {
				obj = "chat.completion.chunk"
			}
			b, _ := json.Marshal(map[string]any{"id": rw.id, "object": obj, "created": rw.created,
				"model": rw.req.model, "choices": []any{}, "usage": rw.usage(q)})
			rw.w.Write([]byte("data: "))
			rw.w.Write(b)
			rw.w.Write([]byte("\n\n"))
		}
		rw.w.Write([]byte("data: [DONE]\n\n"))
		rw.flush()
		return
	}
	if rw.plan.disconnect {
		panic(http.ErrAbortHandler)
	}
	text := strings.Repeat(tokenText, q.maxTokens)
	var body map[string]any
	if rw.req.chat {
		body = map[string]any{"id": rw.id, "object": "chat.completion", "created": rw.created, "model": rw.req.model,
			"choices": []any{map[string]any{"index": 0, "message": map[string]any{"role": "assistant", "content": text},
				"logprobs": nil, "finish_reason": "length", "stop_reason": nil}},
			"usage": rw.usage(q)}
	} else {
		body = map[string]any{"id": rw.id, "object": "text_completion", "created": rw.created, "model": rw.req.model,
			"choices": []any{map[string]any{"index": 0, "text": text, "logprobs": nil, "finish_reason": "length", "stop_reason": nil}},
			"usage":   rw.usage(q)}
	}
	b, _ := json.Marshal(body)
	rw.w.Header().Set("Content-Type", "application/json")
	rw.w.Write(b)
}

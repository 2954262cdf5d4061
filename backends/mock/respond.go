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
	dialect Dialect
	pending int // tokens generated but not yet written (Dialect.Coalesce)

	head             string // a chunk's JSON up to its choice
	mid, first, last []byte // chunk for a middle token, the first token, the last token
}

func newResponder(w http.ResponseWriter, req apiRequest, id uint64, created int64, plan faultPlan, stall time.Duration, d Dialect) *responder {
	rw := &responder{w: w, req: req, created: created, plan: plan, faultAt: req.maxTokens / 2, stall: stall, dialect: d}
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
	rw.head = head
	rw.mid = rw.chunk(1, false, "null", "")
	rw.first = rw.chunk(1, true, "null", "")
	rw.last = rw.chunk(1, false, `"length"`, "")
	if req.maxTokens == 1 {
		rw.last = rw.chunk(1, true, `"length"`, "")
	}
	w.WriteHeader(http.StatusOK)
	return rw
}

// chunk builds the SSE event of a chunk carrying n tokens (0: an empty text), the role when
// role is set, the finish reason (JSON), and usage (JSON, "" for none) beside the choice.
func (rw *responder) chunk(n int, role bool, finish, usage string) []byte {
	var b strings.Builder
	b.WriteString(rw.head)
	text := strings.Repeat(tokenText, n)
	if rw.req.chat {
		b.WriteString(`"delta":{`)
		if role {
			b.WriteString(`"role":"assistant",`)
		}
		b.WriteString(`"content":"` + text + `"},"logprobs":null,"finish_reason":`)
	} else {
		b.WriteString(`"text":"` + text + `","logprobs":null,"finish_reason":`)
	}
	b.WriteString(finish)
	b.WriteString(`,"stop_reason":null}]`)
	if usage != "" {
		b.WriteString(`,"usage":` + usage)
	}
	b.WriteString("}\n\n")
	return []byte(b.String())
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
	last := i == rw.req.maxTokens-1
	if d := rw.dialect; d.Coalesce > 1 || d.UsageEveryChunk {
		rw.pending++
		if rw.pending < d.Coalesce && !last {
			return true
		}
		n := rw.pending
		rw.pending = 0
		finish, usage := "null", ""
		if last {
			finish = `"length"`
		}
		if d.UsageEveryChunk {
			usage = rw.usageJSON(q, i+1)
		}
		_, err := rw.w.Write(rw.chunk(n, rw.req.chat && i+1 == n, finish, usage))
		return err == nil
	}
	var b []byte
	switch {
	case last:
		b = rw.last
	case i == 0 && rw.req.chat:
		b = rw.first
	default:
		b = rw.mid
	}
	_, err := rw.w.Write(b)
	return err == nil
}

// usageJSON is the usage object after completion tokens have been generated.
func (rw *responder) usageJSON(q *seq, completion int) string {
	u := rw.usage(q)
	u.CompletionTokens, u.TotalTokens = completion, u.PromptTokens+completion
	b, _ := json.Marshal(u)
	return string(b)
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
		switch {
		case rw.req.includeUsage && rw.dialect.UsageWithLastChoice:
			rw.w.Write(rw.chunk(0, false, `"length"`, rw.usageJSON(q, q.maxTokens)))
		case rw.req.includeUsage:
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

package mock

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// tokenText is the text of every generated token: one word per token, so that a client that
// counts words counts tokens.
const tokenText = " tok"

// responder writes one response: SSE chunks (chat and completions) or events (the
// Responses API) while streaming, one JSON body otherwise. Chunks are built in a buffer
// the response keeps, so streaming does not allocate per token.
type responder struct {
	w        http.ResponseWriter
	fl       http.Flusher
	req      *apiRequest
	out      *output
	id       string
	created  int64
	plan     faultPlan
	faultAt  int
	stall    time.Duration
	dialect  Dialect
	every    bool // usage on every chunk (Dialect.UsageEveryChunk, continuous_usage_stats)
	group    bool // one chunk for all the tokens at hand (speculative decoding)
	from     int  // first token not yet written
	roleSent bool

	head []byte // a chunk's JSON up to its choice
	buf  []byte
	ev   eventState // the Responses API's
}

func newResponder(w http.ResponseWriter, req *apiRequest, id uint64, created int64, plan faultPlan, cfg *Config) *responder {
	rw := &responder{w: w, req: req, out: &req.out, created: created, plan: plan, faultAt: req.maxTokens / 2,
		stall: cfg.Faults.Stall, dialect: cfg.Dialect, every: cfg.Dialect.UsageEveryChunk || req.continuousUsage,
		group: cfg.Speculative.NumSpeculativeTokens > 0}
	rw.fl, _ = w.(http.Flusher)
	sid := strconv.FormatUint(id, 10)
	switch req.api {
	case apiChat:
		rw.id = "chatcmpl-" + sid
	case apiResponses:
		rw.id = "resp_" + sid
	default:
		rw.id = "cmpl-" + sid
	}
	if !req.stream {
		return rw
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	obj := "text_completion"
	if req.chat() {
		obj = "chat.completion.chunk"
	}
	rw.head = []byte(`data: {"id":"` + rw.id + `","object":"` + obj + `","created":` + strconv.FormatInt(created, 10) +
		`,"model":` + strconv.Quote(req.model) + `,"choices":[{"index":0,`)
	rw.buf = make([]byte, 0, 512)
	w.WriteHeader(http.StatusOK)
	if req.api == apiResponses {
		rw.startEvents(sid)
	}
	return rw
}

func (rw *responder) flush() {
	if rw.fl != nil && rw.req.stream {
		rw.fl.Flush()
	}
}

// write writes tokens [a, b) (from 0), striking the request's planned fault when token
// faultAt comes. It reports false if the response must end.
func (rw *responder) write(a, b int, q *seq, ctx context.Context, quit <-chan struct{}) bool {
	if f := rw.faultAt; a <= f && f < b && rw.plan != (faultPlan{}) {
		if !rw.write(a, f, q, ctx, quit) || !rw.strike(ctx, quit) {
			return false
		}
		a = f
	}
	if !rw.req.stream {
		return true
	}
	o := rw.out
	for i := a; i < b; i++ {
		cut := true
		switch {
		case rw.dialect.Coalesce > 1:
			cut = i+1-rw.from >= rw.dialect.Coalesce
		case rw.group:
			cut = i == b-1
		}
		if !cut && !o.lastOfPhase(i) {
			continue
		}
		ok := true
		if rw.req.api == apiResponses {
			ok = rw.events(rw.from, i+1, q)
		} else {
			ok = rw.chunk(rw.from, i+1, q)
		}
		if !ok {
			return false
		}
		rw.from = i + 1
	}
	return true
}

// strike carries out the fault plan: cut the connection, stall, or send an event that is
// not JSON. It reports false if the response must end.
func (rw *responder) strike(ctx context.Context, quit <-chan struct{}) bool {
	p := rw.plan
	rw.plan = faultPlan{}
	if p.disconnect {
		rw.flush()
		panic(http.ErrAbortHandler) // net/http closes the connection without a clean end
	}
	if p.stall {
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
	if p.malformed && rw.req.stream {
		rw.w.Write([]byte(`data: {"id":"` + rw.id + `","object":` + "\n\n"))
	}
	return true
}

// chunk writes the chat or completions chunk of tokens [a, b), all of one phase: the
// role on the first chunk, the finish reason on the last, and usage on each when asked.
func (rw *responder) chunk(a, b int, q *seq) bool {
	o := rw.out
	p := o.phase(a)
	if p == phaseReasoning && o.hideReasoning {
		return true // vLLM generates the reasoning and sends none of it
	}
	buf := append(rw.buf[:0], rw.head...)
	if rw.req.chat() {
		buf = append(buf, `"delta":{`...)
		if !rw.roleSent {
			buf = append(buf, `"role":"assistant",`...)
			rw.roleSent = true
		}
		buf = rw.appendDelta(buf, p, a, b)
		buf = append(buf, `},"logprobs":null,"finish_reason":`...)
	} else {
		buf = append(buf, `"text":"`...)
		buf = rw.appendPieces(buf, a, b)
		buf = append(buf, `","logprobs":null,"finish_reason":`...)
	}
	if b == o.maxTokens {
		buf = append(buf, '"')
		buf = append(buf, o.finish()...)
		buf = append(buf, '"')
	} else {
		buf = append(buf, "null"...)
	}
	buf = append(buf, `,"stop_reason":null}]`...)
	if rw.every {
		buf = append(buf, `,"usage":`...)
		buf = rw.appendUsage(buf, q, b)
	}
	buf = append(buf, "}\n\n"...)
	rw.buf = buf
	_, err := rw.w.Write(buf)
	return err == nil
}

// appendDelta appends a chat delta's field for tokens [a, b) of phase p: reasoning in the
// dialect's field, text, or a tool call (vLLM's DeltaToolCall: id, type, index and the
// function's name first, then its arguments in pieces).
func (rw *responder) appendDelta(buf []byte, p phase, a, b int) []byte {
	switch p {
	case phaseReasoning:
		buf = append(buf, '"')
		buf = append(buf, rw.dialect.ReasoningField...)
		buf = append(buf, `":"`...)
	case phaseToolName:
		buf = append(buf, `"tool_calls":[{"id":"chatcmpl-tool-`...)
		buf = append(buf, rw.id...)
		buf = append(buf, `","type":"function","index":0,"function":{"name":"`...)
		buf = append(buf, rw.out.toolEsc...)
		if rw.out.piece(a, true) == "" {
			return append(buf, `"}}]`...)
		}
		buf = append(buf, `","arguments":"`...)
		buf = rw.appendPieces(buf, a, b)
		return append(buf, `"}}]`...)
	case phaseToolArgs:
		buf = append(buf, `"tool_calls":[{"index":0,"function":{"arguments":"`...)
		buf = rw.appendPieces(buf, a, b)
		return append(buf, `"}}]`...)
	default:
		buf = append(buf, `"content":"`...)
	}
	buf = rw.appendPieces(buf, a, b)
	return append(buf, '"')
}

func (rw *responder) appendPieces(buf []byte, a, b int) []byte {
	for i := a; i < b; i++ {
		buf = append(buf, rw.out.piece(i, true)...)
	}
	return buf
}

// appendUsage appends the usage after completion tokens, as vLLM's UsageInfo (the
// details only where vLLM sends them) without allocating.
func (rw *responder) appendUsage(buf []byte, q *seq, completion int) []byte {
	buf = append(buf, `{"prompt_tokens":`...)
	buf = strconv.AppendInt(buf, int64(q.promptLen), 10)
	buf = append(buf, `,"total_tokens":`...)
	buf = strconv.AppendInt(buf, int64(q.promptLen+completion), 10)
	buf = append(buf, `,"completion_tokens":`...)
	buf = strconv.AppendInt(buf, int64(completion), 10)
	buf = append(buf, `,"prompt_tokens_details":{"cached_tokens":`...)
	buf = strconv.AppendInt(buf, int64(q.cachedTokens), 10)
	if n := rw.req.imageTokens; n > 0 {
		buf = append(buf, `,"multimodal_tokens":{"image":`...)
		buf = strconv.AppendInt(buf, int64(n), 10)
		buf = append(buf, '}')
	}
	buf = append(buf, '}')
	if rw.out.details {
		buf = append(buf, `,"completion_tokens_details":{"reasoning_tokens":`...)
		buf = strconv.AppendInt(buf, int64(min(completion, rw.out.reasoning)), 10)
		buf = append(buf, '}')
	}
	return append(buf, '}')
}

// appendTimings appends llama.cpp's timings member (",\"timings\":{...}") for a finished
// request when the dialect asks for it (Dialect.Timings): its prompt processing from its
// first scheduling to its first token, its generation from the first token to the last.
func (rw *responder) appendTimings(buf []byte, q *seq) []byte {
	if !rw.dialect.Timings {
		return buf
	}
	promptN, predictedN := q.promptLen-q.cachedTokens, q.generated
	promptMS := float64(q.firstToken-q.scheduled) / 1e6
	predictedMS := float64(q.lastToken-q.firstToken) / 1e6
	num := func(buf []byte, key string, v float64) []byte {
		buf = append(buf, `,"`...)
		buf = append(buf, key...)
		buf = append(buf, `":`...)
		return strconv.AppendFloat(buf, v, 'f', -1, 64)
	}
	rate := func(ms float64, n int) (perToken, perSecond float64) {
		if n == 0 || ms == 0 {
			return 0, 0
		}
		return ms / float64(n), 1e3 * float64(n) / ms
	}
	buf = append(buf, `,"timings":{"cache_n":`...)
	buf = strconv.AppendInt(buf, int64(q.cachedTokens), 10)
	buf = num(buf, "prompt_n", float64(promptN))
	buf = num(buf, "prompt_ms", promptMS)
	pt, ps := rate(promptMS, promptN)
	buf = num(num(buf, "prompt_per_token_ms", pt), "prompt_per_second", ps)
	buf = num(buf, "predicted_n", float64(predictedN))
	buf = num(buf, "predicted_ms", predictedMS)
	dt, ds := rate(predictedMS, predictedN)
	buf = num(num(buf, "predicted_per_token_ms", dt), "predicted_per_second", ds)
	return append(buf, '}')
}

type usage struct {
	PromptTokens        int `json:"prompt_tokens"`
	TotalTokens         int `json:"total_tokens"`
	CompletionTokens    int `json:"completion_tokens"`
	PromptTokensDetails struct {
		CachedTokens     int            `json:"cached_tokens"`
		MultimodalTokens map[string]int `json:"multimodal_tokens,omitempty"`
	} `json:"prompt_tokens_details"`
	CompletionTokensDetails *struct {
		ReasoningTokens int `json:"reasoning_tokens"`
	} `json:"completion_tokens_details,omitempty"`
}

func (rw *responder) usage(q *seq) usage {
	u := usage{PromptTokens: q.promptLen, CompletionTokens: q.maxTokens, TotalTokens: q.promptLen + q.maxTokens}
	u.PromptTokensDetails.CachedTokens = q.cachedTokens
	if n := rw.req.imageTokens; n > 0 {
		u.PromptTokensDetails.MultimodalTokens = map[string]int{"image": n}
	}
	if rw.out.details {
		u.CompletionTokensDetails = &struct {
			ReasoningTokens int `json:"reasoning_tokens"`
		}{rw.out.reasoning}
	}
	return u
}

// finish ends the response after the last token.
func (rw *responder) finish(q *seq) {
	if rw.req.api == apiResponses {
		rw.finishResponses(q)
		return
	}
	if !rw.req.stream {
		rw.finishBody(q)
		return
	}
	switch {
	case rw.req.includeUsage && rw.dialect.UsageWithLastChoice:
		buf := append(rw.buf[:0], rw.head...)
		if rw.req.chat() {
			buf = append(buf, `"delta":{"content":""}`...)
		} else {
			buf = append(buf, `"text":""`...)
		}
		buf = append(buf, `,"logprobs":null,"finish_reason":"`+rw.out.finish()+`","stop_reason":null}],"usage":`...)
		buf = rw.appendUsage(buf, q, q.maxTokens)
		rw.w.Write(append(rw.appendTimings(buf, q), "}\n\n"...))
	case rw.req.includeUsage:
		obj := "text_completion"
		if rw.req.chat() {
			obj = "chat.completion.chunk"
		}
		b, _ := json.Marshal(map[string]any{"id": rw.id, "object": obj, "created": rw.created,
			"model": rw.req.model, "choices": []any{}, "usage": rw.usage(q)})
		if rw.dialect.Timings {
			b = append(rw.appendTimings(b[:len(b)-1], q), '}')
		}
		rw.w.Write([]byte("data: "))
		rw.w.Write(b)
		rw.w.Write([]byte("\n\n"))
	case rw.dialect.Timings:
		// llama.cpp's final result is a chunk of its own: no text, the finish reason, the
		// timings.
		buf := append(rw.buf[:0], rw.head...)
		if rw.req.chat() {
			buf = append(buf, `"delta":{}`...)
		} else {
			buf = append(buf, `"text":""`...)
		}
		buf = append(buf, `,"logprobs":null,"finish_reason":"`+rw.out.finish()+`","stop_reason":null}]`...)
		rw.w.Write(append(rw.appendTimings(buf, q), "}\n\n"...))
	}
	rw.w.Write([]byte("data: [DONE]\n\n"))
	rw.flush()
}

// finishBody writes a non-streaming chat or completions answer.
func (rw *responder) finishBody(q *seq) {
	if rw.plan.disconnect {
		panic(http.ErrAbortHandler)
	}
	o := rw.out
	choice := map[string]any{"index": 0, "logprobs": nil, "finish_reason": o.finish(), "stop_reason": nil}
	body := map[string]any{"id": rw.id, "created": rw.created, "model": rw.req.model, "usage": rw.usage(q)}
	if rw.req.chat() {
		body["object"] = "chat.completion"
		msg := map[string]any{"role": "assistant", "content": o.text(o.reasoning, o.maxTokens)}
		if o.reasoning > 0 && !o.hideReasoning {
			msg[rw.dialect.ReasoningField] = o.text(0, o.reasoning)
		}
		if o.answer == answerTool {
			msg["content"] = nil
			msg["tool_calls"] = []any{map[string]any{"id": "chatcmpl-tool-" + rw.id, "type": "function",
				"function": map[string]any{"name": o.tool, "arguments": o.text(o.reasoning, o.maxTokens)}}}
		}
		choice["message"] = msg
	} else {
		body["object"] = "text_completion"
		choice["text"] = o.text(0, o.maxTokens)
	}
	body["choices"] = []any{choice}
	b, _ := json.Marshal(body)
	rw.w.Header().Set("Content-Type", "application/json")
	rw.w.Write(b)
}

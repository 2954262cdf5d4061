package mock

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// wireResponses is a Responses API request (POST /v1/responses), as vLLM reads it.
type wireResponses struct {
	Model           string          `json:"model"`
	Input           json.RawMessage `json:"input"`
	Instructions    string          `json:"instructions"`
	MaxOutputTokens *int            `json:"max_output_tokens"`
	Stream          bool            `json:"stream"`
	Reasoning       *struct {
		Effort *string `json:"effort"`
	} `json:"reasoning"`
	Tools      []toolDef       `json:"tools"` // {"type": "function", "name": ..., "parameters": ...}
	ToolChoice json.RawMessage `json:"tool_choice"`
	Text       *struct {
		Format *struct {
			Type   string          `json:"type"`
			Schema json.RawMessage `json:"schema"`
		} `json:"format"`
	} `json:"text"`
}

// wireItem is an item of a Responses input: a message (role and content), a function
// call the model made, or a function's output.
type wireItem struct {
	Type      string          `json:"type"`
	Role      string          `json:"role"`
	Content   json.RawMessage `json:"content"`
	Name      string          `json:"name"`
	Arguments string          `json:"arguments"`
	Output    string          `json:"output"`
}

// decodeResponses reads a Responses request: input as a string or a list of items
// (messages with input_text and input_image parts, function calls and their outputs),
// instructions, max_output_tokens, reasoning.effort, tools and tool_choice,
// text.format.
func decodeResponses(body []byte, cfg *Config) (apiRequest, *apiError) {
	var w wireResponses
	if err := json.Unmarshal(body, &w); err != nil {
		return apiRequest{}, badRequest("invalid JSON body: %v", err)
	}
	if err := checkModel(w.Model, cfg.Model); err != nil {
		return apiRequest{}, err
	}
	r := apiRequest{api: apiResponses, model: cfg.Model, stream: w.Stream, includeUsage: true}
	var ws wants
	if w.Reasoning != nil && w.Reasoning.Effort != nil {
		on := *w.Reasoning.Effort != "none"
		ws.thinking = &on
	}
	ws.tools = w.Tools
	if err := ws.readToolChoice(w.ToolChoice, func(c *namedChoice) string { return c.Name }); err != nil {
		return apiRequest{}, err
	}
	if w.Text != nil && w.Text.Format != nil {
		switch f := w.Text.Format; f.Type {
		case "json_schema":
			ws.schema, ws.json = f.Schema, true
		case "json_object":
			ws.json = true
		}
		ws.structured = ws.json
	}
	toks := toolTokens(nil, ws.tools)
	if w.Instructions != "" {
		toks = append(textTokens(append(toks, tokRoleSystem), w.Instructions), tokEnd)
	}
	toks, images, err := inputTokens(toks, w.Input)
	if err != nil {
		return apiRequest{}, err
	}
	if limit := cfg.limitMM("image"); len(images) > limit {
		return apiRequest{}, errTooManyImages(limit)
	}
	r.tokens, r.images = append(toks, tokRoleAssistant), images
	if err := r.setMaxTokens(w.MaxOutputTokens, true, 0, cfg.MaxModelLen); err != nil {
		return apiRequest{}, err
	}
	return r.planned(&ws, cfg)
}

// inputTokens appends the tokens of a Responses input to toks.
func inputTokens(toks []int, raw json.RawMessage) ([]int, []imageRef, *apiError) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if s == "" {
			return nil, nil, badRequest("input must not be empty")
		}
		return append(textTokens(append(toks, tokRoleUser), s), tokEnd), nil, nil
	}
	var items []wireItem
	if err := json.Unmarshal(raw, &items); err != nil || len(items) == 0 {
		return nil, nil, badRequest("input must be a string or a list of items")
	}
	var images []imageRef
	for i, it := range items {
		var err *apiError
		switch {
		case it.Type == "function_call":
			toks = append(textTokens(append(toks, tokRoleAssistant), it.Name+" "+it.Arguments), tokEnd)
		case it.Type == "function_call_output":
			toks = append(textTokens(append(toks, tokRoleOther), it.Output), tokEnd)
		case it.Type == "reasoning":
		case it.Role != "":
			role := tokRoleUser
			switch it.Role {
			case "system", "developer":
				role = tokRoleSystem
			case "assistant":
				role = tokRoleAssistant
			}
			toks, images, err = contentTokens(append(toks, role), images, it.Content, fmt.Sprintf("input[%d].content", i))
			toks = append(toks, tokEnd)
		default:
			err = badRequest("input[%d]: unknown item type %q", i, it.Type)
		}
		if err != nil {
			return nil, nil, err
		}
	}
	return toks, images, nil
}

// eventState is where a Responses stream is: its event count and the output item open.
type eventState struct {
	seq    int    // sequence_number of the next event
	index  int    // output_index of the item open
	itemID string // its id
	sid    string // the request's number, for item ids
}

// Item ids of a Responses output.
func (rw *responder) reasoningID() string { return "rs_" + rw.ev.sid }
func (rw *responder) messageID() string   { return "msg_" + rw.ev.sid }
func (rw *responder) callItemID() string  { return "fc_" + rw.ev.sid }
func (rw *responder) callID() string      { return "call_" + rw.ev.sid }

// event writes one SSE event of type typ with the JSON fields of body (a map or a
// struct's fields in order), adding type and sequence_number.
func (rw *responder) event(typ string, fields map[string]any) {
	fields["type"], fields["sequence_number"] = typ, rw.ev.seq
	rw.ev.seq++
	b, _ := json.Marshal(fields)
	rw.w.Write([]byte("event: " + typ + "\ndata: "))
	rw.w.Write(b)
	rw.w.Write([]byte("\n\n"))
}

// startEvents writes response.created and response.in_progress.
func (rw *responder) startEvents(sid string) {
	rw.ev.sid = sid
	rw.event("response.created", map[string]any{"response": rw.response("in_progress", nil, nil)})
	rw.event("response.in_progress", map[string]any{"response": rw.response("in_progress", nil, nil)})
	rw.flush()
}

// events writes the Responses events of tokens [a, b), all of one phase, as vLLM's simple
// (non-harmony) stream: an output item opens with the phase's first token and closes
// with its last; text and reasoning come as deltas, a tool call's name in its item and
// its arguments as deltas.
func (rw *responder) events(a, b int, q *seq) bool {
	o := rw.out
	p := o.phase(a)
	if a == 0 || item(o.phase(a-1)) != item(p) {
		rw.openItem(p, a)
	}
	if p != phaseToolName {
		buf := append(rw.buf[:0], "event: "...)
		typ := "response.output_text.delta"
		switch p {
		case phaseReasoning:
			typ = "response.reasoning_text.delta"
		case phaseToolArgs:
			typ = "response.function_call_arguments.delta"
		}
		buf = append(buf, typ...)
		buf = append(buf, "\ndata: {\"type\":\""...)
		buf = append(buf, typ...)
		buf = append(buf, `","sequence_number":`...)
		buf = strconv.AppendInt(buf, int64(rw.ev.seq), 10)
		rw.ev.seq++
		buf = append(buf, `,"item_id":"`...)
		buf = append(buf, rw.ev.itemID...)
		buf = append(buf, `","output_index":`...)
		buf = strconv.AppendInt(buf, int64(rw.ev.index), 10)
		if p != phaseToolArgs {
			buf = append(buf, `,"content_index":0`...)
		}
		buf = append(buf, `,"delta":"`...)
		buf = rw.appendPieces(buf, a, b)
		buf = append(buf, '"')
		if p == phaseText || p == phaseJSON {
			buf = append(buf, `,"logprobs":[]`...)
		}
		buf = append(buf, "}\n\n"...)
		rw.buf = buf
		if _, err := rw.w.Write(buf); err != nil {
			return false
		}
	}
	if b == o.maxTokens || item(o.phase(b)) != item(p) {
		rw.closeItem(p)
	}
	return true
}

// item is the output item a phase's tokens go to: a tool call's name and arguments are
// one item.
func item(p phase) phase {
	if p == phaseToolArgs {
		return phaseToolName
	}
	return p
}

// openItem writes the events that open the output item of phase p, whose first token is a.
func (rw *responder) openItem(p phase, a int) {
	add := func(item, part map[string]any) {
		rw.event("response.output_item.added", map[string]any{"output_index": rw.ev.index, "item": item})
		if part != nil {
			rw.event("response.content_part.added", map[string]any{"output_index": rw.ev.index,
				"item_id": rw.ev.itemID, "content_index": 0, "part": part})
		}
	}
	switch p {
	case phaseReasoning:
		rw.ev.itemID = rw.reasoningID()
		add(map[string]any{"type": "reasoning", "id": rw.ev.itemID, "summary": []any{}, "status": "in_progress"},
			map[string]any{"type": "reasoning_text", "text": ""})
	case phaseToolName:
		rw.ev.itemID = rw.callItemID()
		add(map[string]any{"type": "function_call", "id": rw.ev.itemID, "call_id": rw.callID(), "name": rw.out.tool,
			"arguments": rw.out.piece(a, false), "status": "in_progress"}, nil)
	default:
		rw.ev.itemID = rw.messageID()
		add(map[string]any{"type": "message", "id": rw.ev.itemID, "role": "assistant", "content": []any{}, "status": "in_progress"},
			map[string]any{"type": "output_text", "text": "", "annotations": []any{}, "logprobs": []any{}})
	}
}

// closeItem writes the events that close the output item of phase p.
func (rw *responder) closeItem(p phase) {
	o := rw.out
	at := map[string]any{"output_index": rw.ev.index, "item_id": rw.ev.itemID}
	with := func(kv ...any) map[string]any {
		m := map[string]any{"output_index": rw.ev.index, "item_id": rw.ev.itemID}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	items := rw.items()
	switch p {
	case phaseReasoning:
		text := o.text(0, o.reasoning)
		rw.event("response.reasoning_text.done", with("content_index", 0, "text", text))
		rw.event("response.content_part.done", with("content_index", 0, "part", map[string]any{"type": "reasoning_text", "text": text}))
	case phaseToolName, phaseToolArgs:
		rw.event("response.function_call_arguments.done", with("name", o.tool, "arguments", o.text(o.reasoning, o.maxTokens)))
	default:
		text := o.text(o.reasoning, o.maxTokens)
		rw.event("response.output_text.done", with("content_index", 0, "text", text, "logprobs", []any{}))
		rw.event("response.content_part.done", with("content_index", 0,
			"part", map[string]any{"type": "output_text", "text": text, "annotations": []any{}}))
	}
	delete(at, "item_id")
	at["item"] = items[len(items)-1]
	rw.event("response.output_item.done", at)
	rw.ev.index++
}

// items are the output items of the response, complete, up to the one open.
func (rw *responder) items() []any {
	o := rw.out
	var items []any
	if o.reasoning > 0 {
		text := o.text(0, o.reasoning)
		items = append(items, map[string]any{"type": "reasoning", "id": rw.reasoningID(), "summary": []any{},
			"content": []any{map[string]any{"type": "reasoning_text", "text": text}}, "status": "completed"})
	}
	switch {
	case o.maxTokens == o.reasoning:
	case o.answer == answerTool:
		items = append(items, map[string]any{"type": "function_call", "id": rw.callItemID(), "call_id": rw.callID(),
			"name": o.tool, "arguments": o.text(o.reasoning, o.maxTokens), "status": "completed"})
	default:
		items = append(items, map[string]any{"type": "message", "id": rw.messageID(), "role": "assistant", "status": "completed",
			"content": []any{map[string]any{"type": "output_text", "text": o.text(o.reasoning, o.maxTokens), "annotations": []any{}, "logprobs": []any{}}}})
	}
	return items[:min(len(items), rw.ev.index+1)]
}

// response is the Responses API's response object.
func (rw *responder) response(status string, output []any, u any) map[string]any {
	if output == nil {
		output = []any{}
	}
	r := map[string]any{"id": rw.id, "object": "response", "created_at": rw.created, "model": rw.req.model,
		"status": status, "output": output, "usage": u, "error": nil, "incomplete_details": nil,
		"parallel_tool_calls": true, "tool_choice": "auto", "tools": []any{}}
	if status == "incomplete" {
		r["incomplete_details"] = map[string]any{"reason": "max_output_tokens"}
	}
	return r
}

// finishResponses ends a Responses answer: response.completed while streaming, else the
// response as one JSON body. A text answer cut at max_output_tokens is "incomplete".
func (rw *responder) finishResponses(q *seq) {
	o := rw.out
	status := "completed"
	if o.finish() == "length" {
		status = "incomplete"
	}
	rw.ev.index = 2 // every item: reasoning, then the answer
	u := map[string]any{"input_tokens": q.promptLen, "input_tokens_details": map[string]any{"cached_tokens": q.cachedTokens},
		"output_tokens": q.maxTokens, "output_tokens_details": map[string]any{"reasoning_tokens": o.reasoning},
		"total_tokens": q.promptLen + q.maxTokens}
	resp := rw.response(status, rw.items(), u)
	if rw.req.stream {
		rw.event("response.completed", map[string]any{"response": resp})
		rw.flush()
		return
	}
	b, _ := json.Marshal(resp)
	rw.w.Header().Set("Content-Type", "application/json")
	rw.w.Write(b)
}

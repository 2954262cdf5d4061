package sse

import "bytes"

// The events of a Responses API stream (/v1/responses with "stream": true) that matter to
// the client, named by their "type" (and by the SSE "event:" line, which says the same):
// vLLM's entrypoints/openai/responses (simple_streaming_events.py), SGLang's and OpenAI's
// use the same names.
var responseEvents = [...]struct {
	typ   string // the "type" member, quoted as it appears in the data
	kind  Kind
	token Token
}{
	{`"response.output_text.delta"`, TokenChunk, Answer},
	{`"response.reasoning_text.delta"`, TokenChunk, Reasoning},
	{`"response.reasoning_summary_text.delta"`, TokenChunk, Reasoning},
	{`"response.function_call_arguments.delta"`, TokenChunk, ToolCall},
	{`"response.refusal.delta"`, TokenChunk, Refusal},
	{`"response.completed"`, DoneChunk, Answer},
	// A response cut at max_output_tokens ends incomplete ("incomplete_details": {"reason":
	// "max_output_tokens"}): with perftest's exact output lengths, that is how it ends.
	{`"response.incomplete"`, DoneChunk, Answer},
	{`"response.failed"`, ErrorChunk, Answer},
	{`"error"`, ErrorChunk, Answer},
}

// ParseResponseEvent classifies the data of one Responses API event in one pass over the
// bytes, which it validates as JSON, without allocating. Its "type" decides: a delta event
// of output text, reasoning text (or its summary), function-call arguments or a refusal is
// a TokenChunk carrying that kind when its "delta" is a non-empty string (else an
// EmptyChunk); response.completed and response.incomplete are a DoneChunk whose Usage is
// the response's "usage" (when not null); response.failed and error are an ErrorChunk; any
// other event (response.created, output_item.added, *.done, ...) is an EmptyChunk, a sign
// of life. "[DONE]", which some servers send after the last event, is a DoneChunk without
// usage. Data that is not an object with a string "type" is malformed. Duplicate keys: the
// last "type", "delta" and "response" count, and in the response the last "usage".
func ParseResponseEvent(data []byte) Chunk {
	data = bytes.TrimSpace(data)
	if bytes.Equal(data, doneMarker) {
		return Chunk{Kind: DoneChunk}
	}
	bad := Chunk{Kind: MalformedChunk}
	if len(data) == 0 || data[0] != '{' {
		return bad
	}
	var typ, usage []byte
	delta := false
	i, more := openObject(data, 0)
	for more {
		key, v := memberKey(data, i)
		if v < 0 {
			return bad
		}
		var end int
		switch string(key) {
		case "response":
			end, usage = scanResponse(data, v)
		default:
			if end = scanValue(data, v, 1); end < 0 {
				return bad
			}
			switch string(key) {
			case "type":
				typ = data[v:end]
			case "delta":
				delta = textKind(data[v:end]) == TokenChunk
			}
		}
		if end < 0 {
			return bad
		}
		i, more = nextMember(data, end)
	}
	if i != len(data) || len(typ) < 2 || typ[0] != '"' {
		return bad
	}
	c := Chunk{Kind: EmptyChunk}
	for _, e := range responseEvents {
		if string(typ) != e.typ {
			continue
		}
		c.Kind, c.Token = e.kind, e.token
		switch {
		case e.kind == TokenChunk && !delta:
			c.Kind = EmptyChunk
		case e.kind == DoneChunk:
			c.Usage = usage
		}
		break
	}
	return c
}

// scanResponse validates the "response" value at b[i] and returns its end and, for an
// object, the raw value of its last "usage" (nil when that is null).
func scanResponse(b []byte, i int) (end int, usage []byte) {
	const depth = 2
	if i >= len(b) || b[i] != '{' {
		return scanValue(b, i, 1), nil
	}
	i, more := openObject(b, i)
	for more {
		key, v := memberKey(b, i)
		if v < 0 {
			return -1, nil
		}
		if end = scanValue(b, v, depth); end < 0 {
			return -1, nil
		}
		if string(key) == "usage" {
			usage = b[v:end]
			if bytes.Equal(usage, nullValue) {
				usage = nil
			}
		}
		i, more = nextMember(b, end)
	}
	return i, usage
}

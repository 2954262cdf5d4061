package sse

// Token says what a token-carrying chunk carries.
type Token uint8

// What a chunk's tokens are. Every kind is a generated token: usage's completion_tokens
// counts them all.
const (
	// Answer is answer text: a completion's "text", a chat delta's "content", a Responses
	// output_text delta.
	Answer Token = iota
	// Reasoning is a reasoning model's thinking, streamed before its answer.
	Reasoning
	// ToolCall is a piece of a tool call's arguments.
	ToolCall
	// Refusal is the model's refusal, streamed instead of an answer.
	Refusal
)

var tokenNames = [...]string{Answer: "answer", Reasoning: "reasoning", ToolCall: "tool-call", Refusal: "refusal"}

// String names the token kind: "answer", "reasoning", "tool-call", "refusal".
func (t Token) String() string {
	if int(t) < len(tokenNames) {
		return tokenNames[t]
	}
	return "unknown"
}

// What a delta carried, as bits; the members of a delta, as bits of the names seen.
const (
	carriesAnswer uint8 = 1 << iota
	carriesReasoning
	carriesTool
	carriesRefusal
)

// deltaMembers are the delta members that carry tokens, with what each carries.
var deltaMembers = [...]struct {
	name    string
	carries uint8
}{
	{"content", carriesAnswer},
	{"reasoning", carriesReasoning},         // vLLM (its reasoning_content was removed, PR #33402)
	{"reasoning_content", carriesReasoning}, // SGLang, llama.cpp, TensorRT-LLM, DeepSeek
	{"refusal", carriesRefusal},
	{"tool_calls", carriesTool},
}

// scanDelta validates a chat chunk's delta, the object at b[i], and returns its end, its
// kind (TokenChunk when it carries a token, else EmptyChunk) and what it carries.
func scanDelta(b []byte, i int) (end int, k Kind, t Token) {
	const depth = 4
	var seen uint8 // bit m: member deltaMembers[m] was read (the first of a name decides)
	var has uint8  // the carries bits of the tokens found
	i, more := openObject(b, i)
	for more {
		key, v := memberKey(b, i)
		if v < 0 {
			return -1, EmptyChunk, Answer
		}
		m := deltaMember(key)
		switch {
		case m >= 0 && seen&(1<<m) == 0 && deltaMembers[m].carries == carriesTool:
			seen |= 1 << m
			var args bool
			if end, args = scanToolCalls(b, v, depth); args {
				has |= carriesTool
			}
		default:
			end = scanValue(b, v, depth)
			if m >= 0 && seen&(1<<m) == 0 && end >= 0 {
				seen |= 1 << m
				if textKind(b[v:end]) == TokenChunk {
					has |= deltaMembers[m].carries
				}
			}
		}
		if end < 0 {
			return -1, EmptyChunk, Answer
		}
		i, more = nextMember(b, end)
	}
	switch {
	case has&carriesAnswer != 0:
		return i, TokenChunk, Answer
	case has&carriesTool != 0:
		return i, TokenChunk, ToolCall
	case has&carriesRefusal != 0:
		return i, TokenChunk, Refusal
	case has&carriesReasoning != 0:
		return i, TokenChunk, Reasoning
	}
	return i, EmptyChunk, Answer
}

// deltaMember is the index of key in deltaMembers, or -1.
func deltaMember(key []byte) int {
	for m, d := range deltaMembers {
		if string(key) == d.name {
			return m
		}
	}
	return -1
}

// scanToolCalls validates a delta's tool_calls value at b[i], held by the delta nested depth
// deep, and reports whether one of its calls carries arguments: an array element whose
// first "function" is an object whose first "arguments" is a non-empty string.
func scanToolCalls(b []byte, i, depth int) (end int, args bool) {
	if i >= len(b) || b[i] != '[' {
		return scanValue(b, i, depth), false
	}
	j := skipSpace(b, i+1)
	if j < len(b) && b[j] == ']' {
		return j + 1, false
	}
	for {
		var a bool
		if j < len(b) && b[j] == '{' {
			j, a = scanCall(b, j, depth+2)
		} else {
			j = scanValue(b, j, depth+1)
		}
		if j < 0 {
			return -1, false
		}
		args = args || a
		if j = skipSpace(b, j); j >= len(b) {
			return -1, false
		}
		switch b[j] {
		case ']':
			return j + 1, args
		case ',':
			j = skipSpace(b, j+1)
		default:
			return -1, false
		}
	}
}

// scanCall validates one tool call, the object at b[i] nested depth deep, and reports
// whether its first "function" carries arguments.
func scanCall(b []byte, i, depth int) (end int, args bool) {
	seen := false
	i, more := openObject(b, i)
	for more {
		key, v := memberKey(b, i)
		if v < 0 {
			return -1, false
		}
		if !seen && string(key) == "function" {
			seen = true
			if v < len(b) && b[v] == '{' {
				end, args = scanFunction(b, v, depth+1)
			} else {
				end = scanValue(b, v, depth)
			}
		} else {
			end = scanValue(b, v, depth)
		}
		if end < 0 {
			return -1, false
		}
		i, more = nextMember(b, end)
	}
	return i, args
}

// scanFunction validates a tool call's function object at b[i], nested depth deep, and
// reports whether its first "arguments" is a non-empty string.
func scanFunction(b []byte, i, depth int) (end int, args bool) {
	seen := false
	i, more := openObject(b, i)
	for more {
		key, v := memberKey(b, i)
		if v < 0 {
			return -1, false
		}
		if end = scanValue(b, v, depth); end < 0 {
			return -1, false
		}
		if !seen && string(key) == "arguments" {
			seen, args = true, textKind(b[v:end]) == TokenChunk
		}
		i, more = nextMember(b, end)
	}
	return i, args
}

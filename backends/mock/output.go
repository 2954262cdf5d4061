package mock

import (
	"encoding/json"
	"strconv"
	"strings"
)

// answerKind is what a generation request's answer is, after any reasoning.
type answerKind uint8

const (
	answerText answerKind = iota // " tok" per token
	answerJSON                   // a JSON object: {"KEY":" tok tok"}
	answerTool                   // a tool call: the function's name, then its arguments
)

// phase is what one output token is.
type phase uint8

const (
	phaseReasoning phase = iota
	phaseText
	phaseJSON
	phaseToolName // the call's first token: its id and function name
	phaseToolArgs
)

// output is what a generation request's tokens say: reasoning tokens first, then the
// answer. Every token is one word of text (tokenText), except the few that open and close
// a JSON answer or a tool call's arguments, so that the answer is valid JSON of exactly
// the asked length.
type output struct {
	maxTokens     int
	reasoning     int // leading tokens that are reasoning
	answer        answerKind
	tool          string // the called function's name
	named         bool   // tool_choice named the function: finish_reason "stop"
	hideReasoning bool   // include_reasoning false: reasoning is generated, not sent
	details       bool   // usage has completion_tokens_details (a reasoning parser runs)
	grammar       bool   // the answer is constrained: each sampled token costs TokenMS
	schema        uint64 // hash of the grammar's schema, for the compile cache (0: none)

	// JSON pieces of the answer or the arguments, raw and escaped for a JSON string.
	openRaw, openEsc string
	toolEsc          string
}

// JSON pieces of a constrained answer of m tokens: open, m-2 tokens of text, close; a
// one-token answer is "{}".
const (
	closeRaw = `"}`
	closeEsc = `\"}`
	emptyRaw = `{}`
)

// setKey prepares the JSON pieces for an object whose one key is key.
func (o *output) setKey(key string) {
	k, _ := json.Marshal(key)
	o.openRaw = "{" + string(k) + `:"`
	q := strconv.Quote(o.openRaw)
	o.openEsc = q[1 : len(q)-1]
}

// phase is what output token i is.
func (o *output) phase(i int) phase {
	switch {
	case i < o.reasoning:
		return phaseReasoning
	case o.answer == answerJSON:
		return phaseJSON
	case o.answer == answerTool && i == o.reasoning:
		return phaseToolName
	case o.answer == answerTool:
		return phaseToolArgs
	}
	return phaseText
}

// lastOfPhase reports whether token i is the last of its phase.
func (o *output) lastOfPhase(i int) bool {
	return i == o.maxTokens-1 || o.phase(i) != o.phase(i+1)
}

// jsonPiece is the escaped text of token j of a JSON object of m tokens.
func (o *output) jsonPiece(j, m int, esc bool) string {
	switch {
	case m == 1:
		return emptyRaw
	case j == 0 && esc:
		return o.openEsc
	case j == 0:
		return o.openRaw
	case j == m-1 && esc:
		return closeEsc
	case j == m-1:
		return closeRaw
	}
	return tokenText
}

// piece is the text token i adds to its field (a tool call's first token adds none), JSON
// escaped when esc is set.
func (o *output) piece(i int, esc bool) string {
	j, m := i-o.reasoning, o.maxTokens-o.reasoning
	switch o.phase(i) {
	case phaseJSON:
		return o.jsonPiece(j, m, esc)
	case phaseToolName:
		if m == 1 {
			return emptyRaw
		}
		return ""
	case phaseToolArgs:
		return o.jsonPiece(j-1, m-1, esc)
	}
	return tokenText
}

// text is the raw text of tokens [a, b).
func (o *output) text(a, b int) string {
	var sb strings.Builder
	for i := a; i < b; i++ {
		sb.WriteString(o.piece(i, false))
	}
	return sb.String()
}

// finish is the finish reason of the last chunk.
func (o *output) finish() string {
	switch {
	case o.answer == answerTool && !o.named:
		return "tool_calls"
	case o.answer != answerText:
		return "stop"
	}
	return "length"
}

// stops reports whether the output ends by the model (a grammar completed) rather than
// at max_tokens.
func (o *output) stops() bool { return o.answer != answerText }

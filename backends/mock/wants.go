package mock

import (
	"bytes"
	"encoding/json"
	"hash/fnv"
	"math"
)

// wants is what a request asks beyond a length, whatever its API spells it: thinking,
// tools, a grammar.
type wants struct {
	thinking         *bool // nil: the server's default
	hideReasoning    bool
	tools            []toolDef
	toolChoice       string // "", "auto", "required", "none", or "named"
	toolName         string // the named function
	schema           json.RawMessage
	json, structured bool // a JSON answer; any grammar (json, regex, choice, ...)
}

// toolDef is a function a request offers.
type toolDef struct {
	Name       string          `json:"name"`
	Parameters json.RawMessage `json:"parameters"`
}

// wireTool is a chat tool: {"type": "function", "function": {...}}.
type wireTool struct {
	Type     string  `json:"type"`
	Function toolDef `json:"function"`
}

// wireChatExtras are the chat fields that ask for more than text.
type wireChatExtras struct {
	ChatTemplateKwargs map[string]json.RawMessage `json:"chat_template_kwargs"`
	ReasoningEffort    *string                    `json:"reasoning_effort"`
	IncludeReasoning   *bool                      `json:"include_reasoning"`
	Tools              []wireTool                 `json:"tools"`
	ToolChoice         json.RawMessage            `json:"tool_choice"`
	ResponseFormat     *struct {
		Type       string `json:"type"`
		JSONSchema *struct {
			Schema json.RawMessage `json:"schema"`
		} `json:"json_schema"`
	} `json:"response_format"`
	StructuredOutputs map[string]json.RawMessage `json:"structured_outputs"`
}

// chatWants reads what a chat (or completions) request asks.
func (x *wireChatExtras) wants(chat bool) (wants, *apiError) {
	var w wants
	if chat {
		for _, k := range []string{"enable_thinking", "thinking"} {
			var b bool
			if v, ok := x.ChatTemplateKwargs[k]; ok && json.Unmarshal(v, &b) == nil {
				w.thinking = &b
				break
			}
		}
		if e := x.ReasoningEffort; e != nil {
			on := *e != "none"
			w.thinking = &on
		}
		w.hideReasoning = x.IncludeReasoning != nil && !*x.IncludeReasoning
		for _, t := range x.Tools {
			w.tools = append(w.tools, t.Function)
		}
		if err := w.readToolChoice(x.ToolChoice, func(c *namedChoice) string { return c.Function.Name }); err != nil {
			return wants{}, err
		}
	}
	if f := x.ResponseFormat; f != nil {
		switch f.Type {
		case "json_schema":
			if f.JSONSchema == nil {
				return wants{}, badRequest("response_format: json_schema is required when type is json_schema")
			}
			w.schema, w.json = f.JSONSchema.Schema, true
		case "json_object":
			w.json = true
		case "text", "structural_tag":
		default:
			return wants{}, badRequest("response_format: unknown type %q", f.Type)
		}
	}
	for k, v := range x.StructuredOutputs {
		if isNull(v) {
			continue
		}
		w.structured = true
		switch k {
		case "json":
			w.schema, w.json = v, true
		case "json_object":
			w.json = true
		}
	}
	w.structured = w.structured || w.json
	return w, nil
}

// namedChoice is a tool_choice naming a function: chat's {"type": "function",
// "function": {"name": ...}} or the Responses API's {"type": "function", "name": ...}.
type namedChoice struct {
	Type     string `json:"type"`
	Name     string `json:"name"`
	Function struct {
		Name string `json:"name"`
	} `json:"function"`
}

// readToolChoice reads tool_choice: a string, or an object naming a function (name says
// where the API puts its name).
func (w *wants) readToolChoice(raw json.RawMessage, name func(*namedChoice) string) *apiError {
	raw = bytes.TrimSpace(raw)
	switch {
	case isNull(raw):
	case raw[0] == '"':
		if err := json.Unmarshal(raw, &w.toolChoice); err != nil {
			return badRequest("tool_choice: %v", err)
		}
		switch w.toolChoice {
		case "auto", "required", "none":
		default:
			return badRequest("tool_choice: unknown value %q", w.toolChoice)
		}
	default:
		var c namedChoice
		if err := json.Unmarshal(raw, &c); err != nil || name(&c) == "" {
			return badRequest("tool_choice must be \"auto\", \"required\", \"none\" or name a function")
		}
		w.toolChoice, w.toolName = "named", name(&c)
	}
	return nil
}

func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || bytes.Equal(raw, []byte("null"))
}

// plan decides what a request's maxTokens output tokens are: how many reason, and
// whether the answer is text, JSON or a tool call, with vLLM's errors for tool choices
// the server cannot serve. draw is the request's own uniform number in [0, 1), for the
// auto tool choice.
func (w *wants) plan(cfg *Config, api apiKind, maxTokens int, draw float64) (output, *apiError) {
	o := output{maxTokens: maxTokens, hideReasoning: w.hideReasoning}
	generative := api == apiChat || api == apiResponses
	o.details = generative && cfg.Reasoning.Parser != ""
	if len(w.tools) > 0 && w.toolChoice == "" {
		w.toolChoice = "auto"
	}
	switch {
	case w.toolChoice != "" && w.toolChoice != "none" && len(w.tools) == 0:
		return output{}, badRequest("When using `tool_choice`, `tools` must be set.")
	case w.toolChoice == "auto" && !(cfg.Tools.AutoToolChoice && cfg.Tools.Parser != ""):
		return output{}, badRequest(`"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set`)
	case w.toolChoice == "named":
		i := len(w.tools) - 1
		for i >= 0 && w.tools[i].Name != w.toolName {
			i--
		}
		if i < 0 {
			return output{}, badRequest("Tool '%s' has not been passed in `tools`.", w.toolName)
		}
		o.answer, o.tool, o.named = answerTool, w.toolName, true
	case w.toolChoice == "required", w.toolChoice == "auto" && draw >= cfg.Tools.AutoTextRate:
		o.answer, o.tool = answerTool, w.tools[0].Name
	case w.json:
		o.answer = answerJSON
	}
	key := "answer"
	if o.answer == answerTool {
		key = "input"
		for _, t := range w.tools {
			if t.Name == o.tool {
				key = firstRequired(t.Parameters, key)
			}
		}
		q, _ := json.Marshal(o.tool)
		o.toolEsc = string(q[1 : len(q)-1])
	} else {
		key = firstRequired(w.schema, key)
	}
	o.setKey(key)
	o.grammar = w.structured || o.answer == answerTool
	if o.grammar && len(w.schema) > 0 && o.answer != answerTool {
		h := fnv.New64a()
		h.Write(w.schema)
		o.schema = h.Sum64() | 1
	}
	if generative && cfg.Reasoning.Parser != "" && (w.thinking == nil && !cfg.Reasoning.DefaultOff || w.thinking != nil && *w.thinking) {
		o.reasoning = reasoningTokens(&cfg.Reasoning, maxTokens, o.answer != answerText)
	}
	return o, nil
}

// reasoningTokens is how many of maxTokens a request reasons; an answer that must be
// whole (JSON, a tool call) keeps one token.
func reasoningTokens(r *Reasoning, maxTokens int, whole bool) int {
	n := r.Tokens
	if n == 0 {
		n = int(math.Round(r.Fraction * float64(maxTokens)))
	}
	if whole {
		return max(0, min(n, maxTokens-1))
	}
	return min(n, maxTokens)
}

// firstRequired is the first name in a JSON schema's "required" list, or def.
func firstRequired(schema json.RawMessage, def string) string {
	var s struct {
		Required []string `json:"required"`
	}
	if json.Unmarshal(schema, &s) == nil && len(s.Required) > 0 && s.Required[0] != "" {
		return s.Required[0]
	}
	return def
}

// requestDraw is a request's own uniform number in [0, 1): a hash of its prompt and the
// server's seed, so that the same request draws the same on every run.
func requestDraw(tokens []int, seed uint64) float64 {
	h := hashBlock(hashSeed^seed, tokens)
	return float64(h>>11) / (1 << 53)
}

// toolTokens are the prompt tokens of the tool definitions a chat template renders
// before the conversation: one per 4 bytes of their JSON, the same definitions giving the
// same tokens (a prefix the cache shares across turns).
func toolTokens(dst []int, tools []toolDef) []int {
	for _, t := range tools {
		b, _ := json.Marshal(t)
		dst = bytesTokens(dst, b)
	}
	return dst
}

// bytesTokens maps b to one token per 4 bytes, each a hash of its bytes.
func bytesTokens(dst []int, b []byte) []int {
	for len(b) > 0 {
		n := min(4, len(b))
		h := fnv.New32a()
		h.Write(b[:n])
		dst = append(dst, textVocabBase+int(h.Sum32()%textVocab))
		b = b[n:]
	}
	return dst
}

// errTooManyImages is vLLM's answer to more images than --limit-mm-per-prompt allows.
func errTooManyImages(limit int) *apiError {
	return badRequest("At most %d image(s) may be provided in one prompt. Set `--limit-mm-per-prompt` to increase this limit.", limit)
}

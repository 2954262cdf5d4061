package sse

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Chunks as the engines stream them beyond answer text, written from their sources:
// vLLM's DeltaMessage (entrypoints/openai/engine/protocol.py: role, content, reasoning,
// tool_calls; dumped without unset fields), SGLang's (entrypoints/openai/protocol.py: role,
// content, reasoning_content, tool_calls; dumped with nulls), a tool call's first delta
// (the function's name; vLLM leaves arguments out, others send "") and its arguments.
const (
	vllmReasoning   = `{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"reasoning":" so"},"logprobs":null,"finish_reason":null}]}`
	sglangReasoning = `{"id":"1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":null,"content":null,"reasoning_content":" so","tool_calls":null},"logprobs":null,"finish_reason":null,"matched_stop":null}],"usage":null}`
	toolStart       = `{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"id":"chatcmpl-tool-1","type":"function","index":0,"function":{"name":"get_weather"}}]}}]}`
	toolStartEmpty  = `{"choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get_weather","arguments":""}}]}}]}`
	toolArgs        = `{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\": \""}}]}}]}`
	refusalToken    = `{"choices":[{"index":0,"delta":{"refusal":"I can't"}}]}`
	mixedToken      = `{"choices":[{"index":0,"delta":{"reasoning":" done.","content":"The"}}]}`
)

func TestParseTokenKinds(t *testing.T) {
	for _, tc := range []struct {
		data string
		kind Kind
		tok  Token
	}{
		{vllmToken, TokenChunk, Answer},
		{chatToken, TokenChunk, Answer},
		{vllmReasoning, TokenChunk, Reasoning},
		{sglangReasoning, TokenChunk, Reasoning},
		{toolStart, EmptyChunk, Answer},
		{toolStartEmpty, EmptyChunk, Answer},
		{toolArgs, TokenChunk, ToolCall},
		{refusalToken, TokenChunk, Refusal},
		{mixedToken, TokenChunk, Answer},
		{`{"choices":[{"delta":{"reasoning":null,"reasoning_content":""}}]}`, EmptyChunk, Answer},
		{`{"choices":[{"delta":{"tool_calls":[]}}]}`, EmptyChunk, Answer},
		{`{"choices":[{"delta":{"tool_calls":[{"function":{"name":"f","arguments":"{}"}}]}}]}`, TokenChunk, ToolCall},
		{`{"choices":[{"delta":{"tool_calls":[{"function":{"arguments":"x"}}`, MalformedChunk, Answer},
	} {
		c := Parse([]byte(tc.data))
		assert.Equal(t, tc.kind, c.Kind, tc.data)
		if tc.kind == TokenChunk {
			assert.Equal(t, tc.tok, c.Token, tc.data)
		}
	}
	assert.Equal(t, "tool-call", ToolCall.String())
}

func TestParseUsageShapes(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want Usage
	}{
		// OpenAI's, with reasoning in the details.
		{`{"prompt_tokens":8,"completion_tokens":40,"completion_tokens_details":{"reasoning_tokens":24},"prompt_tokens_details":{"cached_tokens":2}}`,
			Usage{PromptTokens: 8, CompletionTokens: 40, CachedTokens: 2, ReasoningTokens: 24, HasReasoning: true}},
		// SGLang's UsageInfo: reasoning_tokens at the top level, always present.
		{`{"prompt_tokens":8,"total_tokens":48,"completion_tokens":40,"prompt_tokens_details":null,"reasoning_tokens":24}`,
			Usage{PromptTokens: 8, CompletionTokens: 40, ReasoningTokens: 24, HasReasoning: true}},
		// vLLM's: no reasoning count; completion_tokens may be null.
		{`{"prompt_tokens":8,"total_tokens":8,"completion_tokens":null}`, Usage{PromptTokens: 8}},
		// The Responses API's.
		{`{"input_tokens":13,"input_tokens_details":{"cached_tokens":0},"output_tokens":71,"output_tokens_details":{"reasoning_tokens":64},"total_tokens":84}`,
			Usage{PromptTokens: 13, CompletionTokens: 71, ReasoningTokens: 64, HasReasoning: true}},
		// A pooling answer's.
		{`{"prompt_tokens":30,"total_tokens":30}`, Usage{PromptTokens: 30}},
	} {
		u, ok, err := ParseUsage([]byte(tc.raw))
		require.NoError(t, err, tc.raw)
		assert.True(t, ok, tc.raw)
		assert.Equal(t, tc.want, u, tc.raw)
	}
	_, ok, err := ParseUsage([]byte(`{"total_tokens":3}`))
	assert.False(t, ok)
	assert.NoError(t, err)
	_, ok, _ = ParseUsage([]byte(`not json`))
	assert.False(t, ok)
}

// TestParseUsageRefusesImpossibleCounts: a count of 1e30 used to become 0 without a word,
// and a negative cached_tokens was recorded as is (issue 23).
func TestParseUsageRefusesImpossibleCounts(t *testing.T) {
	for raw, field := range map[string]string{
		`{"prompt_tokens":8,"completion_tokens":1e30}`:                                                 "completion_tokens 1e30",
		`{"prompt_tokens":8,"completion_tokens":4,"prompt_tokens_details":{"cached_tokens":-3}}`:       "cached_tokens -3",
		`{"prompt_tokens":-1,"completion_tokens":4}`:                                                   "prompt_tokens -1",
		`{"prompt_tokens":8,"completion_tokens":4.5}`:                                                  "completion_tokens 4.5",
		`{"prompt_tokens":8,"completion_tokens":"4"}`:                                                  `completion_tokens "4"`,
		`{"prompt_tokens":8,"completion_tokens":2199023255553}`:                                        "completion_tokens 2199023255553",
		`{"prompt_tokens":8,"completion_tokens":4,"prompt_tokens_details":{"cached_tokens":9}}`:        "cached_tokens 9 is more than prompt_tokens 8",
		`{"prompt_tokens":8,"completion_tokens":4,"completion_tokens_details":{"reasoning_tokens":5}}`: "reasoning_tokens 5 is more than completion_tokens 4",
		`{"input_tokens":8,"output_tokens":4,"output_tokens_details":{"reasoning_tokens":-1}}`:         "reasoning_tokens -1",
	} {
		u, ok, err := ParseUsage([]byte(raw))
		require.ErrorIs(t, err, ErrBadUsage, raw)
		assert.Contains(t, err.Error(), field, raw)
		assert.True(t, ok, "a refused usage is still a usage: %s", raw)
		assert.Zero(t, u, "a refused usage is never recorded: %s", raw)
	}
}

// Responses API events as vLLM streams them (entrypoints/openai/responses:
// "event: TYPE\ndata: JSON" per event, the openai types' fields in alphabetical order).
const (
	respCreated   = `{"response":{"id":"resp_1","status":"in_progress","usage":null},"sequence_number":0,"type":"response.created"}`
	respReasoning = `{"content_index":0,"delta":" so","item_id":"rs_1","output_index":0,"sequence_number":3,"type":"response.reasoning_text.delta"}`
	respText      = `{"content_index":0,"delta":" the","item_id":"msg_1","logprobs":[],"output_index":1,"sequence_number":9,"type":"response.output_text.delta"}`
	respArgs      = `{"delta":"{\"city\"","item_id":"fc_1","output_index":0,"sequence_number":4,"type":"response.function_call_arguments.delta"}`
	respCompleted = `{"response":{"id":"resp_1","output":[],"status":"completed","usage":{"input_tokens":13,"input_tokens_details":{"cached_tokens":0},"output_tokens":71,"output_tokens_details":{"reasoning_tokens":64},"total_tokens":84}},"sequence_number":46,"type":"response.completed"}`
	respFailed    = `{"response":{"id":"resp_1","status":"failed","error":{"code":"server_error","message":"engine died"}},"sequence_number":5,"type":"response.failed"}`
)

func TestParseResponseEvent(t *testing.T) {
	for _, tc := range []struct {
		data  string
		kind  Kind
		tok   Token
		usage string
	}{
		{respCreated, EmptyChunk, Answer, ""},
		{respReasoning, TokenChunk, Reasoning, ""},
		{respText, TokenChunk, Answer, ""},
		{respArgs, TokenChunk, ToolCall, ""},
		{`{"delta":"no","type":"response.refusal.delta"}`, TokenChunk, Refusal, ""},
		{`{"delta":"","type":"response.output_text.delta"}`, EmptyChunk, Answer, ""},
		{respCompleted, DoneChunk, Answer, `{"input_tokens":13,"input_tokens_details":{"cached_tokens":0},"output_tokens":71,"output_tokens_details":{"reasoning_tokens":64},"total_tokens":84}`},
		{`{"type":"response.incomplete","response":{"usage":{"input_tokens":1,"output_tokens":2}}}`, DoneChunk, Answer, `{"input_tokens":1,"output_tokens":2}`},
		{respFailed, ErrorChunk, Answer, ""},
		{`{"type":"error","code":"x","message":"bad"}`, ErrorChunk, Answer, ""},
		{"[DONE]", DoneChunk, Answer, ""},
		{`{"delta":"x"}`, MalformedChunk, Answer, ""},
		{`{"type":5}`, MalformedChunk, Answer, ""},
		{`{"type":"response.output_text.delta","delta":"x"`, MalformedChunk, Answer, ""},
	} {
		c := ParseResponseEvent([]byte(tc.data))
		assert.Equal(t, tc.kind, c.Kind, tc.data)
		assert.Equal(t, tc.tok, c.Token, tc.data)
		assert.Equal(t, tc.usage, string(c.Usage), tc.data)
	}
	assert.Equal(t, "engine died", ErrorMessage([]byte(respFailed)))
}

func TestParsePooled(t *testing.T) {
	for _, tc := range []struct {
		data    string
		kind    Kind
		results int
		usage   string
	}{
		// vLLM's and OpenAI's embeddings.
		{`{"id":"embd-1","object":"list","created":1,"model":"m","data":[{"index":0,"object":"embedding","embedding":[0.1,-2e-3]},{"index":1,"object":"embedding","embedding":[0.5,0.25]}],"usage":{"prompt_tokens":12,"total_tokens":12,"completion_tokens":0}}`,
			DoneChunk, 2, `{"prompt_tokens":12,"total_tokens":12,"completion_tokens":0}`},
		// vLLM's rerank.
		{`{"id":"rerank-1","model":"m","usage":{"prompt_tokens":30,"total_tokens":30},"results":[{"index":1,"document":{"text":"b"},"relevance_score":0.9},{"index":0,"document":{"text":"a"},"relevance_score":0.1}]}`,
			DoneChunk, 2, `{"prompt_tokens":30,"total_tokens":30}`},
		// SGLang's rerank: a bare list, no usage.
		{`[{"score":0.9,"document":"b","index":1},{"score":0.1,"document":"a","index":0},{"score":0,"index":2}]`, DoneChunk, 3, ""},
		{`{"object":"error","message":"not a pooling model","type":"BadRequestError","code":400}`, ErrorChunk, 0, ""},
		{`{"error":{"message":"boom"}}`, ErrorChunk, 0, ""},
		{`{"id":"x","usage":{"prompt_tokens":1}}`, MalformedChunk, 0, `{"prompt_tokens":1}`},
		{`{"data":[1,2}`, MalformedChunk, 0, ""},
		{`[1,2] x`, MalformedChunk, 0, ""},
		{``, MalformedChunk, 0, ""},
	} {
		p := ParsePooled([]byte(tc.data))
		assert.Equal(t, tc.kind, p.Kind, tc.data)
		if tc.kind != MalformedChunk {
			assert.Equal(t, tc.results, p.Results, tc.data)
			assert.Equal(t, tc.usage, string(p.Usage), tc.data)
		}
	}
}

// TestNoAllocPerKindedToken: reasoning, tool-call and Responses tokens cost no allocation
// either.
func TestNoAllocPerKindedToken(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race")
	}
	for _, tok := range []string{vllmReasoning, sglangReasoning, toolArgs, refusalToken} {
		data := []byte(tok)
		assert.Zero(t, testing.AllocsPerRun(200, func() {
			if Parse(data).Kind != TokenChunk {
				t.Fatal("not a token")
			}
		}), tok)
	}
	for _, ev := range []string{respText, respReasoning, respArgs} {
		data := []byte(ev)
		assert.Zero(t, testing.AllocsPerRun(200, func() {
			if ParseResponseEvent(data).Kind != TokenChunk {
				t.Fatal("not a token")
			}
		}), ev)
	}
}

// BenchmarkParseKinds is the classifier on reasoning, tool-call and Responses chunks.
//
//	go test -run '^$' -bench BenchmarkParseKinds -benchmem ./perftest/internal/sse
func BenchmarkParseKinds(b *testing.B) {
	for _, tc := range []struct {
		name, tok string
		parse     func([]byte) Chunk
	}{{"vllm-reasoning", vllmReasoning, Parse}, {"sglang-reasoning", sglangReasoning, Parse}, {"tool-args", toolArgs, Parse},
		{"responses-text", respText, ParseResponseEvent}} {
		b.Run(tc.name, func(b *testing.B) {
			data := []byte(tc.tok)
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if tc.parse(data).Kind != TokenChunk {
					b.Fatal("not a token")
				}
			}
		})
	}
}

// FuzzResponseEvent checks ParseResponseEvent against encoding/json: the same validity, and
// the kind, token and usage that the last "type", "delta" and "response" say.
func FuzzResponseEvent(f *testing.F) {
	for _, s := range []string{respCreated, respReasoning, respText, respArgs, respCompleted, respFailed, "[DONE]",
		`{"type":"response.completed","response":{"usage":null}}`, `{"type":"response.completed","response":{"usage":{"a":1},"usage":null}}`,
		`{"type":"response.completed","response":5}`, `{"type":"x","type":"response.output_text.delta","delta":"a"}`,
		`{"type":"response\u002ecompleted"}`, `{"delta":"a","delta":"","type":"response.output_text.delta"}`, `{"type":"error"} x`,
		`{"type":"response.output_text.delta","delta":` + strings.Repeat("[", 300) + strings.Repeat("]", 300) + `}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		got := ParseResponseEvent(in)
		want, deep := refResponseEvent(in)
		if deep {
			return // nested deeper than the parser allows: malformed to it, valid to encoding/json
		}
		if got.Kind != want.Kind || got.Token != want.Token || !bytes.Equal(got.Usage, want.Usage) {
			t.Fatalf("ParseResponseEvent(%q) = %v/%v usage %q, the reference says %v/%v usage %q", in, got.Kind, got.Token, got.Usage, want.Kind, want.Token, want.Usage)
		}
	})
}

// refResponseEvent is ParseResponseEvent written with encoding/json and the reference
// object iterator (raw keys, members in order). deep reports input nested deeper than
// maxDepth, which only encoding/json accepts.
func refResponseEvent(in []byte) (c Chunk, deep bool) {
	data := bytes.TrimSpace(in)
	if string(data) == "[DONE]" {
		return Chunk{Kind: DoneChunk}, false
	}
	if len(data) == 0 || data[0] != '{' || !json.Valid(data) {
		return Chunk{Kind: MalformedChunk}, false
	}
	if nesting(data) > maxDepth {
		return Chunk{}, true
	}
	m := refMembers(data, 0)
	typ := m["type"]
	if len(typ) < 2 || typ[0] != '"' {
		return Chunk{Kind: MalformedChunk}, false
	}
	c = Chunk{Kind: EmptyChunk}
	for _, e := range responseEvents {
		if string(typ) != e.typ {
			continue
		}
		c.Kind, c.Token = e.kind, e.token
		if d := m["delta"]; e.kind == TokenChunk && !(len(d) > 2 && d[0] == '"') {
			c.Kind = EmptyChunk
		}
		if r := m["response"]; e.kind == DoneChunk && len(r) > 0 && r[0] == '{' {
			if u := refMembers(r, 0)["usage"]; string(u) != "null" {
				c.Usage = u
			}
		}
		break
	}
	return c, false
}

// refMembers maps the raw keys of the (valid) object at data[i] to their last values.
func refMembers(data []byte, i int) map[string][]byte {
	m := map[string][]byte{}
	it := refNewObjectIter(data, i, 1)
	for {
		f, ok := it.next()
		if !ok {
			return m
		}
		m[string(f.key)] = data[f.start:f.end]
	}
}

// nesting is the deepest nesting of arrays and objects in valid JSON.
func nesting(data []byte) int {
	dec := json.NewDecoder(bytes.NewReader(data))
	depth, most := 0, 0
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) || err != nil {
			return most
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
			most = max(most, depth)
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
	}
}

// FuzzPooled checks ParsePooled against encoding/json: the same validity, result count and
// usage.
func FuzzPooled(f *testing.F) {
	for _, s := range []string{`{"data":[{"embedding":[1,2]},{"embedding":[3]}],"usage":{"prompt_tokens":3}}`,
		`{"results":[{"index":0,"relevance_score":1}],"usage":{"prompt_tokens":3,"total_tokens":3}}`, `[{"score":1},{"score":2}]`,
		`{"object":"error","message":"x"}`, `{"data":5,"results":[1]}`, `{"data":[1],"data":[1,2,3]}`, `{"usage":null,"data":[]}`,
		`{"usage":{"a":1},"usage":null,"data":[]}`, `[1,`, `{"error":null,"data":[1]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		got := ParsePooled(in)
		want, deep := refPooled(in)
		if deep {
			return
		}
		if got.Kind != want.Kind || (got.Kind != MalformedChunk && (got.Results != want.Results || !bytes.Equal(got.Usage, want.Usage))) {
			t.Fatalf("ParsePooled(%q) = %+v, the reference says %+v", in, got, want)
		}
	})
}

// refPooled is ParsePooled written with encoding/json and the reference object iterator.
func refPooled(in []byte) (p Pooled, deep bool) {
	data := bytes.TrimSpace(in)
	if !json.Valid(data) || len(data) == 0 || (data[0] != '{' && data[0] != '[') {
		return Pooled{Kind: MalformedChunk}, false
	}
	if nesting(data) > maxDepth {
		return Pooled{}, true
	}
	count := func(raw []byte) int {
		var elems []json.RawMessage
		_ = json.Unmarshal(raw, &elems)
		return len(elems)
	}
	if data[0] == '[' {
		return Pooled{Kind: DoneChunk, Results: count(data)}, false
	}
	p.Kind = MalformedChunk
	isError := false
	it := refNewObjectIter(data, 0, 1)
	for {
		f, ok := it.next()
		if !ok {
			break
		}
		raw := data[f.start:f.end]
		switch key := string(f.key); {
		case (key == "data" || key == "results") && raw[0] == '[':
			p.Results, p.Kind = count(raw), DoneChunk
		case key == "usage" && string(raw) != "null":
			p.Usage = raw
		case key == "error" && string(raw) != "null", key == "object" && string(raw) == `"error"`:
			isError = true
		}
	}
	if isError {
		p.Kind = ErrorChunk
	}
	return p, false
}

// FuzzUsage checks that whatever ParseUsage accepts is possible: counts from 0 to 2^40,
// no more cached than prompt tokens, no more reasoning than completion tokens.
func FuzzUsage(f *testing.F) {
	for _, s := range []string{`{"prompt_tokens":8,"completion_tokens":40,"completion_tokens_details":{"reasoning_tokens":24}}`,
		`{"prompt_tokens":8,"completion_tokens":1e30}`, `{"prompt_tokens":8,"prompt_tokens_details":{"cached_tokens":-3}}`,
		`{"input_tokens":1,"output_tokens":2,"output_tokens_details":{"reasoning_tokens":3}}`, `{"prompt_tokens":null}`,
		`{"reasoning_tokens":1,"completion_tokens_details":{"reasoning_tokens":null}}`, `[]`, `{"prompt_tokens":00}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		u, ok, err := ParseUsage(in)
		if err != nil {
			if !errors.Is(err, ErrBadUsage) || u != (Usage{}) {
				t.Fatalf("ParseUsage(%q) refused with %v but returned %+v", in, err, u)
			}
			return
		}
		for _, n := range []int{u.PromptTokens, u.CompletionTokens, u.CachedTokens, u.ReasoningTokens} {
			if n < 0 || n > 1<<40 {
				t.Fatalf("ParseUsage(%q) = %+v: an impossible count", in, u)
			}
		}
		if ok && (u.CachedTokens > u.PromptTokens && u.PromptTokens > 0 || u.ReasoningTokens > u.CompletionTokens && u.CompletionTokens > 0) {
			t.Fatalf("ParseUsage(%q) = %+v: counts that contradict each other", in, u)
		}
	})
}

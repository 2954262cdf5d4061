package fakeserver

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Dialect is an engine whose answers a stand-in imitates, chunk for chunk, as its source
// writes them.
type Dialect string

// Dialects.
const (
	// VLLM streams reasoning in delta.reasoning (vLLM's DeltaMessage since its
	// reasoning_content left the output, PR #33402; entrypoints/openai/engine/protocol.py),
	// chunks dumped without unset fields, usage without a reasoning count (UsageInfo has
	// none) unless StandIn.ReasoningDetails.
	VLLM Dialect = "vllm"
	// SGLang streams reasoning in delta.reasoning_content, chunks dumped with their nulls,
	// and reports reasoning_tokens at the top of usage (entrypoints/openai/protocol.py,
	// UsageInfo and DeltaMessage).
	SGLang Dialect = "sglang"
	// LlamaCpp streams reasoning in delta.reasoning_content (llama-server with
	// --reasoning-format deepseek), usage beside the last chunk's empty choice.
	LlamaCpp Dialect = "llamacpp"
)

// StandIn says how a stand-in server answers. Every answer generates the request's
// max_tokens (chat) or max_output_tokens (Responses): Reasoning of them reasoning, the rest
// answer text, or tool-call arguments when the request offers tools with tool_choice
// "required" (vLLM's tool-call deltas: the call's id and name first, then its arguments in
// pieces, finish_reason "tool_calls").
type StandIn struct {
	Dialect Dialect
	// Reasoning is how many of each answer's tokens are reasoning.
	Reasoning int
	// ReasoningDetails adds OpenAI's completion_tokens_details.reasoning_tokens to a vLLM
	// usage (the spelling llm-d-inference-sim and OpenAI use).
	ReasoningDetails bool
	// First is the time before the first token, ITL the time between tokens.
	First, ITL time.Duration
	// Spec, when set, is served as vLLM's speculative-decoding counters on /metrics, and
	// grows by itself per answer.
	Spec *SpecCounters
	// OnRequest, when set, is called with the path and body of every request.
	OnRequest func(path string, body []byte)
}

// SpecCounters are vLLM's speculative-decoding counters (v1/spec_decode/metrics.py):
// drafts, draft tokens and accepted tokens, per answer.
type SpecCounters struct {
	Drafts, DraftTokens, Accepted float64
}

// StartStandIn starts a stand-in server on loopback for the test: /v1/models,
// /v1/chat/completions, /v1/responses, /v1/embeddings, /v1/rerank and /metrics.
func StartStandIn(tb testing.TB, cfg StandIn) *httptest.Server {
	tb.Helper()
	s := &standIn{cfg: cfg}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/models", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"object":"list","data":[{"id":"fake-model","object":"model"}]}`)
	})
	mux.HandleFunc("POST /v1/chat/completions", s.chat)
	mux.HandleFunc("POST /v1/responses", s.responses)
	mux.HandleFunc("POST /v1/embeddings", s.embeddings)
	mux.HandleFunc("POST /v1/rerank", s.rerank)
	mux.HandleFunc("GET /metrics", s.metrics)
	srv := httptest.NewServer(mux)
	tb.Cleanup(srv.Close)
	return srv
}

type standIn struct {
	cfg     StandIn
	answers atomic.Int64
}

// standInRequest is what a stand-in reads of a request.
type standInRequest struct {
	MaxTokens       int               `json:"max_tokens"`
	MaxOutputTokens int               `json:"max_output_tokens"`
	ToolChoice      json.RawMessage   `json:"tool_choice"`
	Input           json.RawMessage   `json:"input"`
	Documents       []json.RawMessage `json:"documents"`
}

func (s *standIn) read(w http.ResponseWriter, r *http.Request) (standInRequest, bool) {
	body, _ := io.ReadAll(r.Body)
	if s.cfg.OnRequest != nil {
		s.cfg.OnRequest(r.URL.Path, body)
	}
	var req standInRequest
	if err := json.Unmarshal(body, &req); err != nil {
		http.Error(w, `{"object":"error","message":"bad json","code":400}`, http.StatusBadRequest)
		return req, false
	}
	return req, true
}

// stream starts an event stream and returns a function that writes one event after the
// right pause.
func (s *standIn) stream(w http.ResponseWriter) func(event, data string) {
	w.Header().Set("Content-Type", "text/event-stream")
	fl, _ := w.(http.Flusher)
	first := true
	return func(event, data string) {
		if first {
			time.Sleep(s.cfg.First)
			first = false
		} else if event != "" || !strings.HasPrefix(data, "[") {
			time.Sleep(s.cfg.ITL)
		}
		if event != "" {
			fmt.Fprintf(w, "event: %s\n", event)
		}
		fmt.Fprintf(w, "data: %s\n\n", data)
		if fl != nil {
			fl.Flush()
		}
	}
}

// chat answers a streamed chat completion in the dialect's chunks.
func (s *standIn) chat(w http.ResponseWriter, r *http.Request) {
	req, ok := s.read(w, r)
	if !ok {
		return
	}
	n := max(req.MaxTokens, 1)
	think := min(s.cfg.Reasoning, n)
	send := s.stream(w)
	send("", s.chunk(`{"role":"assistant","content":""}`, "null"))
	for range think {
		send("", s.chunk(s.reasoningDelta(" so"), "null"))
	}
	finish := `"length"`
	if string(req.ToolChoice) == `"required"` {
		// vLLM: the first delta names the function (its arguments left out), then the
		// arguments in pieces.
		send("", s.chunk(`{"tool_calls":[{"id":"chatcmpl-tool-1","type":"function","index":0,"function":{"name":"get_weather"}}]}`, "null"))
		for i := range n - think {
			send("", s.chunk(fmt.Sprintf(`{"tool_calls":[{"index":0,"function":{"arguments":"%s"}}]}`, argPiece(i)), "null"))
		}
		finish = `"tool_calls"`
	} else {
		for range n - think {
			send("", s.chunk(s.contentDelta(" the"), "null"))
		}
	}
	usage := s.usage(n, think)
	if s.cfg.Dialect == LlamaCpp {
		// llama.cpp: usage beside the last chunk's empty choice.
		send("", fmt.Sprintf(`{"choices":[{"finish_reason":%s,"index":0,"delta":{}}],"created":1,"model":"fake-model","object":"chat.completion.chunk","usage":%s}`, finish, usage))
	} else {
		send("", s.chunk(`{}`, finish))
		send("", fmt.Sprintf(`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"fake-model","choices":[],"usage":%s}`, usage))
	}
	send("", "[DONE]")
	s.answers.Add(1)
}

// argPiece is the i-th piece of a tool call's arguments.
func argPiece(i int) string {
	if i == 0 {
		return `{\"city\": \"`
	}
	return "Os"
}

// chunk is one chat chunk of the dialect around delta.
func (s *standIn) chunk(delta, finish string) string {
	if s.cfg.Dialect == SGLang {
		return fmt.Sprintf(`{"id":"1","object":"chat.completion.chunk","created":1,"model":"fake-model","choices":[{"index":0,"delta":%s,"logprobs":null,"finish_reason":%s,"matched_stop":null}],"usage":null}`, delta, finish)
	}
	return fmt.Sprintf(`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"fake-model","choices":[{"index":0,"delta":%s,"logprobs":null,"finish_reason":%s}]}`, delta, finish)
}

func (s *standIn) reasoningDelta(text string) string {
	switch s.cfg.Dialect {
	case SGLang:
		return fmt.Sprintf(`{"role":null,"content":null,"reasoning_content":%q,"tool_calls":null}`, text)
	case LlamaCpp:
		return fmt.Sprintf(`{"reasoning_content":%q}`, text)
	}
	return fmt.Sprintf(`{"reasoning":%q}`, text)
}

func (s *standIn) contentDelta(text string) string {
	if s.cfg.Dialect == SGLang {
		return fmt.Sprintf(`{"role":null,"content":%q,"reasoning_content":null,"tool_calls":null}`, text)
	}
	return fmt.Sprintf(`{"content":%q}`, text)
}

// usage is the dialect's usage of an answer of n tokens, think of them reasoning.
func (s *standIn) usage(n, think int) string {
	switch {
	case s.cfg.Dialect == SGLang:
		return fmt.Sprintf(`{"prompt_tokens":8,"total_tokens":%d,"completion_tokens":%d,"prompt_tokens_details":null,"reasoning_tokens":%d}`, 8+n, n, think)
	case s.cfg.ReasoningDetails:
		return fmt.Sprintf(`{"prompt_tokens":8,"total_tokens":%d,"completion_tokens":%d,"completion_tokens_details":{"reasoning_tokens":%d}}`, 8+n, n, think)
	}
	return fmt.Sprintf(`{"prompt_tokens":8,"total_tokens":%d,"completion_tokens":%d}`, 8+n, n)
}

// responses answers a streamed Responses API request as vLLM's simple streaming events do
// (entrypoints/openai/responses/simple_streaming_events.py), "event:" lines and all, no
// [DONE].
func (s *standIn) responses(w http.ResponseWriter, r *http.Request) {
	req, ok := s.read(w, r)
	if !ok {
		return
	}
	n := max(req.MaxOutputTokens, 1)
	think := min(s.cfg.Reasoning, n)
	send := s.stream(w)
	seq := 0
	ev := func(typ, fields string) {
		send(typ, fmt.Sprintf(`{%s"sequence_number":%d,"type":%q}`, fields, seq, typ))
		seq++
	}
	ev("response.created", `"response":{"id":"resp_1","object":"response","status":"in_progress","usage":null},`)
	if think > 0 {
		ev("response.output_item.added", `"item":{"id":"rs_1","summary":[],"type":"reasoning","status":"in_progress"},"output_index":0,`)
		for range think {
			ev("response.reasoning_text.delta", `"content_index":0,"delta":" so","item_id":"rs_1","output_index":0,`)
		}
		ev("response.reasoning_text.done", `"content_index":0,"item_id":"rs_1","output_index":0,"text":"so",`)
	}
	ev("response.output_item.added", `"item":{"id":"msg_1","content":[],"role":"assistant","status":"in_progress","type":"message"},"output_index":1,`)
	for range n - think {
		ev("response.output_text.delta", `"content_index":0,"delta":" the","item_id":"msg_1","logprobs":[],"output_index":1,`)
	}
	ev("response.output_text.done", `"content_index":0,"item_id":"msg_1","logprobs":[],"output_index":1,"text":"the",`)
	ev("response.completed", fmt.Sprintf(`"response":{"id":"resp_1","object":"response","status":"incomplete","incomplete_details":{"reason":"max_output_tokens"},"usage":{"input_tokens":8,"input_tokens_details":{"cached_tokens":0},"output_tokens":%d,"output_tokens_details":{"reasoning_tokens":%d},"total_tokens":%d}},`, n, think, 8+n))
	s.answers.Add(1)
}

// embeddings answers with one embedding per input (vLLM's EmbeddingResponse).
func (s *standIn) embeddings(w http.ResponseWriter, r *http.Request) {
	req, ok := s.read(w, r)
	if !ok {
		return
	}
	var inputs []json.RawMessage
	if json.Unmarshal(req.Input, &inputs) != nil || len(inputs) == 0 || inputs[0][0] != '"' {
		inputs = []json.RawMessage{req.Input} // one input: text or token ids
	}
	time.Sleep(s.cfg.First)
	var data []string
	for i := range inputs {
		data = append(data, fmt.Sprintf(`{"index":%d,"object":"embedding","embedding":[0.125,-0.5,0.25]}`, i))
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"id":"embd-1","object":"list","created":1,"model":"fake-model","data":[%s],"usage":{"prompt_tokens":%d,"total_tokens":%d,"completion_tokens":0}}`,
		strings.Join(data, ","), 4*len(inputs), 4*len(inputs))
	s.answers.Add(1)
}

// rerank answers with one score per document (vLLM's RerankResponse).
func (s *standIn) rerank(w http.ResponseWriter, r *http.Request) {
	req, ok := s.read(w, r)
	if !ok {
		return
	}
	time.Sleep(s.cfg.First)
	var results []string
	for i, d := range req.Documents {
		results = append(results, fmt.Sprintf(`{"index":%d,"document":{"text":%s},"relevance_score":%g}`, i, d, 1/float64(i+1)))
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"id":"rerank-1","model":"fake-model","usage":{"prompt_tokens":%d,"total_tokens":%d},"results":[%s]}`,
		6*len(results), 6*len(results), strings.Join(results, ","))
	s.answers.Add(1)
}

// metrics serves vLLM's speculative-decoding counters, grown per answer so far.
func (s *standIn) metrics(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Spec == nil {
		http.NotFound(w, r)
		return
	}
	k := float64(s.answers.Load())
	for _, c := range []struct {
		name string
		v    float64
	}{{"vllm:spec_decode_num_drafts", s.cfg.Spec.Drafts}, {"vllm:spec_decode_num_draft_tokens", s.cfg.Spec.DraftTokens},
		{"vllm:spec_decode_num_accepted_tokens", s.cfg.Spec.Accepted}} {
		fmt.Fprintf(w, "# TYPE %s counter\n%s_total{engine=\"0\",model_name=\"fake-model\"} %g\n", c.name, c.name, k*c.v)
	}
}

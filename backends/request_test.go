package backends_test

import (
	"bytes"
	"encoding/json"
	"iter"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/backends"
	"github.com/perfgate/perfgate/backends/dynamo"
	"github.com/perfgate/perfgate/backends/llamacpp"
	"github.com/perfgate/perfgate/backends/sglang"
	"github.com/perfgate/perfgate/backends/trtllm"
	"github.com/perfgate/perfgate/backends/vllm"
	"github.com/perfgate/perfgate/fixtures"
	"github.com/perfgate/perfgate/internal/fakeserver"
	"github.com/perfgate/perfgate/internal/golden"
	"github.com/perfgate/perfgate/perftest"
)

// What a started container and a server one runs tell perftest of their requests.
var (
	_ perftest.Dialect = (*backends.Container)(nil)
	_ perftest.Dialect = (*backends.Server)(nil)
	_ perftest.Dialect = requestsOnly{}
)

// literal is a workload of the requests it holds: a prompt of token ids, one of text, and
// a conversation.
type literal []fixtures.Request

func (l literal) Name() string                 { return "literal" }
func (l literal) Fingerprint() (string, error) { return fixtures.Fingerprint("literal", l) }
func (l literal) Requests() iter.Seq2[fixtures.Request, error] {
	return func(yield func(fixtures.Request, error) bool) {
		for i, r := range l {
			r.Index = i
			if !yield(r, nil) {
				return
			}
		}
	}
}

var bodyWorkload = literal{
	{Tokens: []int{11, 12, 13}, InputTokens: 3, OutputTokens: 4},
	{Text: "hello world", InputTokens: 2, OutputTokens: 5},
	{Messages: []fixtures.Message{{Role: "user", Content: "hi"}, {Role: "assistant", Content: "yo"}, {Role: "user", Content: "more"}},
		InputTokens: 3, OutputTokens: 2},
}

// requestsOnly is an engine's server with what it knows of requests and nothing else, so
// that a fake server that has none of its cache or metrics routes can take the requests.
type requestsOnly struct {
	url string
	s   *backends.Server
}

func (r requestsOnly) BaseURL() string                         { return r.url }
func (r requestsOnly) RequestFields(api string) map[string]any { return r.s.RequestFields(api) }
func (r requestsOnly) CheckRequest(api string, f []string) error {
	return r.s.CheckRequest(api, f)
}
func (r requestsOnly) ReasoningFields(api, level string) map[string]any {
	return r.s.ReasoningFields(api, level)
}
func (r requestsOnly) APIPath(api string) (string, error) { return r.s.APIPath(api) }

// bodyLog keeps the bodies a server received (its OnRequest).
type bodyLog struct {
	mu  sync.Mutex
	got [][]byte
}

func (r *bodyLog) record(_ string, body []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, body)
}

func (r *bodyLog) bodies() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.got
}

// send runs c, one repetition without warm-up, against the server at url through engine
// e's requests (perftest's own when e is nil).
func send(t *testing.T, url string, e *backends.Engine, c perftest.Case) error {
	t.Helper()
	c.Target = perftest.Endpoint(url)
	if e != nil {
		c.Target = requestsOnly{url, backends.Endpoint(url, *e)}
	}
	c.Load, c.Count, c.Warmup, c.AllowShortOutputs = perftest.Concurrency(1), 1, -1, true
	_, err := perftest.Execute(t.Context(), c, perftest.ExecOptions{})
	return err
}

// bodies runs the workload against a fake server through engine e's requests and returns
// the bodies the server received, and the server.
func bodies(t *testing.T, e *backends.Engine, api perftest.API, extra map[string]any) ([][]byte, *fakeserver.Server, error) {
	t.Helper()
	var rec bodyLog
	srv := fakeserver.Start(t, fakeserver.Config{OnRequest: rec.record})
	err := send(t, srv.URL, e, perftest.Case{API: api, Workload: bodyWorkload, Extra: extra, MaxErrorRate: -1})
	return rec.bodies(), srv, err
}

// TestRequestBodies checks the exact body each engine module sends, for completions and
// chat, against testdata/requests (go test -run TestRequestBodies -update rewrites them).
// perftest's own body (the "perftest" files) is what it sent before engine modules had a
// say: Dynamo's are the same bytes; vLLM and SGLang add continuous usage stats.
func TestRequestBodies(t *testing.T) {
	engines := map[string]*backends.Engine{"perftest": nil, "vllm": &vllm.Engine, "sglang": &sglang.Engine,
		"trtllm": &trtllm.Engine, "dynamo": &dynamo.Engine, "llamacpp": &llamacpp.Engine}
	for name, e := range engines {
		for api, apiName := range map[perftest.API]string{perftest.Completions: "completions", perftest.Chat: "chat"} {
			t.Run(name+"/"+apiName, func(t *testing.T) {
				got, _, err := bodies(t, e, api, nil)
				require.NoError(t, err)
				require.Len(t, got, len(bodyWorkload))
				file := "requests/" + name + "." + apiName + ".jsonl"
				checkBodies(t, file, got)
			})
		}
	}
}

// checkBodies compares bodies, one a line, with the golden file: decoded with go-cmp for a
// readable difference, then byte for byte.
func checkBodies(t *testing.T, file string, got [][]byte) {
	t.Helper()
	all := append(bytes.Join(got, []byte("\n")), '\n')
	if want, err := readTestdata(file); err == nil {
		if diff := cmp.Diff(decodeLines(t, want), decodeLines(t, all)); diff != "" {
			t.Errorf("request bodies differ from testdata/%s (-want +got):\n%s", file, diff)
		}
	}
	golden.Check(t, file, all)
}

func readTestdata(file string) ([]byte, error) { return os.ReadFile(filepath.Join("testdata", file)) }

func decodeLines(t *testing.T, b []byte) []any {
	t.Helper()
	var out []any
	for line := range bytes.Lines(b) {
		var v any
		require.NoError(t, json.Unmarshal(line, &v), "%s", line)
		out = append(out, v)
	}
	return out
}

func TestExtraWinsOverTheEngine(t *testing.T) {
	got, _, err := bodies(t, &llamacpp.Engine, perftest.Completions, map[string]any{"min_tokens": 7, "top_k": 1})
	require.NoError(t, err)
	var body map[string]any
	require.NoError(t, json.Unmarshal(got[0], &body))
	assert.Equal(t, 7.0, body["min_tokens"], "Case.Extra is merged after the engine's fields")
	assert.Equal(t, 1.0, body["top_k"])
}

func TestUndeclaredFieldIsRefusedBeforeSending(t *testing.T) {
	for _, api := range []perftest.API{perftest.Completions, perftest.Chat} {
		_, srv, err := bodies(t, &trtllm.Engine, api, map[string]any{"top_kk": 1, "structured_outputs": map[string]any{}, "top_k": 1})
		require.Error(t, err)
		assert.Contains(t, err.Error(), `request field "top_kk": trtllm does not declare it`)
		assert.Contains(t, err.Error(), `request field "structured_outputs": trtllm`)
		assert.NotContains(t, err.Error(), `"top_k"`, "a field trtllm-serve declares is sent")
		assert.Contains(t, err.Error(), `extra="forbid"`)
		assert.Zero(t, srv.Requests(), "no request is sent")
	}
	// Removing a field, or an engine that takes any field, is no refusal.
	_, _, err := bodies(t, &trtllm.Engine, perftest.Chat, map[string]any{"min_tokens": nil, "max_completion_tokens": 3})
	require.NoError(t, err)
	_, _, err = bodies(t, &vllm.Engine, perftest.Chat, map[string]any{"top_kk": 1})
	require.NoError(t, err)
}

// featureWorkloads are, per API, requests that carry what a request asks beyond text:
// reasoning off, on and at an effort; images, tools, a tool call and its result, a schema;
// a batch to embed; documents to rerank.
var featureWorkloads = map[perftest.API]literal{
	perftest.Chat:       featureTurns,
	perftest.Responses:  featureTurns,
	perftest.Embeddings: {{Inputs: []string{"first input", "second input"}, InputTokens: 4}},
	perftest.Rerank:     {{Query: "which is red?", Documents: []string{"an apple", "the sky"}, InputTokens: 6}},
}

var featureTurns = literal{
	{Text: "think about it", OutputTokens: 3, Reasoning: "on"},
	{Text: "answer now", OutputTokens: 3, Reasoning: "off"},
	{Text: "think hard", OutputTokens: 3, Reasoning: "high"},
	{OutputTokens: 3, ToolChoice: "auto", Schema: json.RawMessage(`{"type":"object","properties":{"answer":{"type":"string"}}}`),
		Tools: []fixtures.Tool{{Name: "get_weather", Description: "Weather in a city", Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}}}`)}},
		Messages: []fixtures.Message{
			{Role: "user", Content: "what is in the picture, and the weather there?", Images: []string{"data:image/png;base64,iVBORw0KGgo="}},
			{Role: "assistant", ToolCalls: []fixtures.ToolCall{{ID: "call_1", Name: "get_weather", Arguments: `{"city":"Oslo"}`}}},
			{Role: "tool", Content: "12 C", ToolCallID: "call_1"},
		}},
}

// TestFeatureRequestBodies checks the exact bodies each engine module sends for reasoning,
// tools, structured output, images, the Responses API, embeddings and rerank, against
// testdata/requests (-update rewrites them); an engine that serves no such API refuses the
// case before a request is sent.
func TestFeatureRequestBodies(t *testing.T) {
	engines := map[string]*backends.Engine{"perftest": nil, "vllm": &vllm.Engine, "sglang": &sglang.Engine,
		"trtllm": &trtllm.Engine, "dynamo": &dynamo.Engine, "llamacpp": &llamacpp.Engine}
	apis := map[perftest.API]string{perftest.Chat: "chat-features", perftest.Responses: "responses", perftest.Embeddings: "embeddings", perftest.Rerank: "rerank"}
	for name, e := range engines {
		for api, file := range apis {
			t.Run(name+"/"+file, func(t *testing.T) {
				var rec bodyLog
				srv := fakeserver.StartStandIn(t, fakeserver.StandIn{OnRequest: rec.record})
				err := send(t, srv.URL, e, perftest.Case{API: api, Workload: featureWorkloads[api], Model: "fake-model"})
				got := rec.bodies()
				if name == "trtllm" && (api == perftest.Embeddings || api == perftest.Rerank) {
					require.ErrorContains(t, err, "trtllm serves no "+strings.TrimSuffix(file, "-features")+" API")
					assert.Empty(t, got, "no request is sent")
					return
				}
				require.NoError(t, err)
				require.Len(t, got, len(featureWorkloads[api]))
				checkBodies(t, "requests/"+name+"."+file+".jsonl", got)
			})
		}
	}
}

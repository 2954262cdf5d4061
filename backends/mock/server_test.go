package mock

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// client returns an HTTP client whose idle connections are closed when the test ends.
func client(t *testing.T) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// stream posts body and returns the SSE data payloads.
func stream(t *testing.T, c *http.Client, url, body string) []string {
	t.Helper()
	resp, err := c.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	var events []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			events = append(events, d)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return events
}

func TestStreamCompletion(t *testing.T) {
	srv := Start(t, Config{SpeedupRatio: 100})
	c := client(t)
	ev := stream(t, c, srv.BaseURL()+"/v1/completions",
		`{"model":"sim-llama-8b","prompt":[1,2,3,4,5],"max_tokens":5,"ignore_eos":true,"stream":true,"stream_options":{"include_usage":true}}`)
	if len(ev) != 7 || ev[6] != "[DONE]" {
		t.Fatalf("events = %q", ev)
	}
	var last struct {
		Choices []struct {
			Text         string  `json:"text"`
			FinishReason *string `json:"finish_reason"`
		} `json:"choices"`
	}
	if err := json.Unmarshal([]byte(ev[4]), &last); err != nil || *last.Choices[0].FinishReason != "length" {
		t.Fatalf("last token chunk %s: %v", ev[4], err)
	}
	var u struct {
		Choices []any `json:"choices"`
		Usage   usage `json:"usage"`
	}
	if err := json.Unmarshal([]byte(ev[5]), &u); err != nil {
		t.Fatal(err)
	}
	if len(u.Choices) != 0 || u.Usage.PromptTokens != 5 || u.Usage.CompletionTokens != 5 || u.Usage.TotalTokens != 10 {
		t.Fatalf("usage chunk %s", ev[5])
	}
}

// Server satisfies perftest.Target and perftest.Describer structurally.
var _ interface {
	BaseURL() string
	Describe() map[string]string
} = (*Server)(nil)

// discardWriter is a ResponseWriter and Flusher that keeps nothing.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}
func (d *discardWriter) Flush()                      {}

// Streaming a token does not allocate: chunks are built in a buffer the response keeps,
// whatever the token is (text, reasoning, a tool call's arguments, a Responses delta)
// and with usage on every chunk.
func TestStreamTokenDoesNotAllocate(t *testing.T) {
	cfg := Config{Reasoning: Reasoning{Parser: "deepseek_r1", Tokens: 1000}}.withDefaults()
	long := 1 << 20
	for _, tc := range []struct {
		name string
		req  apiRequest
	}{
		{"completions", apiRequest{api: apiCompletions}},
		{"chat", apiRequest{api: apiChat}},
		{"chat reasoning", apiRequest{api: apiChat, continuousUsage: true, out: output{reasoning: long, details: true}}},
		{"chat tool call", apiRequest{api: apiChat, out: output{reasoning: 1, answer: answerTool, tool: "f", toolEsc: "f"}}},
		{"chat json", apiRequest{api: apiChat, out: output{answer: answerJSON}}},
		{"responses", apiRequest{api: apiResponses, out: output{reasoning: long}}},
	} {
		req := tc.req
		req.model, req.maxTokens, req.stream, req.out.maxTokens = DefaultModel, 2*long, true, 2*long
		req.out.setKey("answer")
		rw := newResponder(&discardWriter{h: http.Header{}}, &req, 1, 0, faultPlan{}, &cfg)
		q := &seq{promptLen: 5}
		i := 0
		rw.write(i, 3, q, t.Context(), nil) // open the items
		i = 3
		allocs := testing.AllocsPerRun(1000, func() {
			rw.write(i, i+1, q, t.Context(), nil)
			rw.flush()
			i++
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocs per token", tc.name, allocs)
		}
	}
}

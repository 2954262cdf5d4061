package api

import (
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/fixtures"
	"github.com/perfgate/perfgate/perftest/internal/sse"
)

func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m), "%s", b)
	return m
}

func TestBodyLayers(t *testing.T) {
	engine := map[string]any{"min_tokens": nil, "top_k": 5, "cache_prompt": true}
	extra := map[string]any{"top_k": 1, "cache_prompt": nil, "seed": 3}
	b := NewBuilder(Completions, "m", Layers{Engine: engine, Extra: extra})
	body, err := b.Body(&fixtures.Request{Tokens: []int{7, 8}, OutputTokens: 4})
	require.NoError(t, err)
	want := map[string]any{"prompt": []any{7.0, 8.0}, "model": "m", "max_tokens": 4.0, "ignore_eos": true, "stream": true,
		"stream_options": map[string]any{"include_usage": true}, "temperature": 0.0, "top_k": 1.0, "seed": 3.0}
	if diff := cmp.Diff(want, decode(t, body)); diff != "" {
		t.Errorf("the engine's fields, then Extra's, over the defaults (-want +got):\n%s", diff)
	}
	names, err := b.Names(&fixtures.Request{Tokens: []int{1}})
	require.NoError(t, err)
	assert.Equal(t, []string{"ignore_eos", "max_tokens", "model", "prompt", "seed", "stream", "stream_options", "temperature", "top_k"}, names)
}

func TestBodySpliceMatchesEncoding(t *testing.T) {
	b := NewBuilder(Completions, "m", Layers{})
	for _, req := range []fixtures.Request{{Tokens: []int{1, 2, 3}, OutputTokens: 9}, {Tokens: []int{4}, OutputTokens: 9}, {Tokens: []int{5}, OutputTokens: 2}} {
		body, err := b.Body(&req)
		require.NoError(t, err)
		want, err := b.Fields(&req)
		require.NoError(t, err)
		ids := []any{}
		for _, id := range req.Tokens {
			ids = append(ids, float64(id))
		}
		want["prompt"] = ids
		wantJSON, err := json.Marshal(want)
		require.NoError(t, err)
		assert.Equal(t, decode(t, wantJSON), decode(t, body), "spliced body of %v", req)
		assert.True(t, strings.HasPrefix(string(body), `{"prompt":[`), "%s", body)
	}
	bare := NewBuilder(Completions, "m", Layers{Engine: map[string]any{"model": nil, "max_tokens": nil, "min_tokens": nil, "ignore_eos": nil,
		"stream": nil, "stream_options": nil, "temperature": nil}})
	body, err := bare.Body(&fixtures.Request{Tokens: []int{5}, OutputTokens: 4})
	require.NoError(t, err)
	assert.JSONEq(t, `{"prompt":[5]}`, string(body), "the overrides removed every other field")
}

func TestBodyAllocatesOncePerTokenRequest(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race")
	}
	b := NewBuilder(Completions, "m", Layers{Extra: map[string]any{"top_k": 1}})
	req := fixtures.Request{Tokens: make([]int, 512), OutputTokens: 128}
	_, err := b.Body(&req) // encodes the fields of this output length once
	require.NoError(t, err)
	assert.Equal(t, 1.0, testing.AllocsPerRun(100, func() { _, _ = b.Body(&req) }))
}

func TestChatInput(t *testing.T) {
	b := NewBuilder(Chat, "m", Layers{})
	for _, tc := range []struct {
		req  fixtures.Request
		want []any
	}{
		{fixtures.Request{Tokens: []int{1, 2}}, []any{map[string]any{"role": "user", "content": fixtures.Text([]int{1, 2})}}},
		{fixtures.Request{Text: "hello"}, []any{map[string]any{"role": "user", "content": "hello"}}},
		{fixtures.Request{Messages: []fixtures.Message{{Role: "system", Content: "s"}, {Role: "user", Content: "u"}}},
			[]any{map[string]any{"role": "system", "content": "s"}, map[string]any{"role": "user", "content": "u"}}},
	} {
		body, err := b.Body(&tc.req)
		require.NoError(t, err)
		got := decode(t, body)
		assert.Equal(t, tc.want, got["messages"])
		assert.NotContains(t, got, "prompt")
	}
}

func events(t *testing.T, stream string) ([]Event, error) {
	t.Helper()
	s := Completions.NewStream()
	s.Reset(strings.NewReader(stream))
	var out []Event
	for {
		ev, err := s.Next()
		if err != nil {
			return out, err
		}
		ev.Data = append([]byte(nil), ev.Data...)
		out = append(out, ev)
		if ev.Kind == Done {
			return out, nil
		}
	}
}

func kinds(evs []Event) (k []Kind, tokens int) {
	for _, ev := range evs {
		k = append(k, ev.Kind)
		tokens += ev.Tokens
	}
	return k, tokens
}

func TestStreamEvents(t *testing.T) {
	// Usage on every chunk (TensorRT-LLM's continuous usage stats) says how many tokens a
	// chunk carried; the last usage seen is the one a Done event reports.
	evs, err := events(t, `data: {"choices":[{"delta":{"role":"assistant"}}]}`+"\n\n"+
		`data: {"choices":[{"text":"a"}],"usage":{"prompt_tokens":8,"completion_tokens":1}}`+"\n\n"+
		`data: {"choices":[{"text":"bcd"}],"usage":{"prompt_tokens":8,"completion_tokens":4}}`+"\n\n"+
		`data: {"choices":[],"usage":{"prompt_tokens":8,"completion_tokens":4,"prompt_tokens_details":{"cached_tokens":2}}}`+"\n\n"+
		"data: [DONE]\n\n")
	require.NoError(t, err)
	k, tokens := kinds(evs)
	assert.Equal(t, []Kind{Other, Output, Output, Other, Done}, k)
	assert.Equal(t, 4, tokens)
	last := evs[len(evs)-1]
	require.NotNil(t, last.Usage)
	assert.Equal(t, sse.Usage{PromptTokens: 8, CompletionTokens: 4, CachedTokens: 2}, *last.Usage)

	evs, err = events(t, "data: {\"choices\":[{\"text\":\"a\"}]}\n\nevent: error\ndata: {\"message\":\"boom\"}\n\ndata: [DONE]\n\n")
	require.NoError(t, err)
	k, _ = kinds(evs)
	assert.Equal(t, []Kind{Output, Failed, Done}, k)
	assert.Equal(t, "boom", sse.ErrorMessage(evs[1].Data))

	evs, _ = events(t, "data: {\"error\":{\"message\":\"oom\"}}\n\ndata: not json\n\n")
	k, _ = kinds(evs)
	assert.Equal(t, []Kind{Failed, Malformed}, k)

	_, err = events(t, "data: {\"choices\":[{\"text\":\"a\"}]}\n\n")
	assert.True(t, errors.Is(err, io.EOF), "a stream cut before [DONE] ends with the reader's error: %v", err)
}

func TestStreamIsReusable(t *testing.T) {
	s := Chat.NewStream()
	for range 2 {
		s.Reset(strings.NewReader(`data: {"choices":[{"delta":{"content":"x"}}],"usage":{"completion_tokens":3}}` + "\n\ndata: [DONE]\n\n"))
		ev, err := s.Next()
		require.NoError(t, err)
		assert.Equal(t, 3, ev.Tokens, "the count of the last stream does not carry over")
		ev, err = s.Next()
		require.NoError(t, err)
		assert.Equal(t, Done, ev.Kind)
		assert.Equal(t, 3, ev.Usage.CompletionTokens)
	}
	s.Reset(nil)
}

// TestNoAllocPerToken checks the hot path: reading a token event allocates nothing.
func TestNoAllocPerToken(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race")
	}
	tok := "data: " + `{"choices":[{"index":0,"text":" a"}],"usage":{"prompt_tokens":8,"completion_tokens":3}}` + "\n\n"
	s := Completions.NewStream()
	s.Reset(strings.NewReader(strings.Repeat(tok, 2000)))
	allocs := testing.AllocsPerRun(1000, func() {
		if ev, err := s.Next(); err != nil || ev.Kind != Output {
			t.Fatalf("unexpected event %v %v", ev, err)
		}
	})
	assert.Zero(t, allocs)
}

// TestStreamTimings: the request's id (the first chunk's) and llama.cpp's timings on its
// last chunk come with the Done event, and do not carry over to the next answer.
func TestStreamTimings(t *testing.T) {
	s := Completions.NewStream()
	last := `{"id":"cmpl-2","choices":[{"text":"","finish_reason":"length"}],"usage":{"prompt_tokens":9,"completion_tokens":1},` +
		`"timings":{"cache_n":1,"prompt_n":8,"prompt_ms":2.5,"predicted_n":1,"predicted_ms":0}}`
	s.Reset(strings.NewReader("data: {\"id\":\"cmpl-1\",\"choices\":[{\"text\":\"a\"}]}\n\ndata: " + last + "\n\ndata: [DONE]\n\n"))
	var done Event
	for {
		ev, err := s.Next()
		require.NoError(t, err)
		if ev.Kind == Done {
			done = ev
			break
		}
	}
	assert.Equal(t, "cmpl-1", string(done.ID))
	require.NoError(t, done.TimingsErr)
	require.NotNil(t, done.Timings)
	assert.Equal(t, sse.Timings{PromptTokens: 8, CachedTokens: 1, PredictedTokens: 1, Prompt: 2500 * time.Microsecond}, *done.Timings)

	s.Reset(strings.NewReader("data: {\"choices\":[{\"text\":\"a\"}],\"timings\":{\"prompt_ms\":-1,\"predicted_ms\":1}}\n\ndata: [DONE]\n\n"))
	_, _ = s.Next()
	ev, err := s.Next()
	require.NoError(t, err)
	assert.Empty(t, ev.ID, "an id does not carry over to the next answer")
	assert.Nil(t, ev.Timings)
	assert.ErrorContains(t, ev.TimingsErr, "prompt_ms -1")
}

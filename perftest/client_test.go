package perftest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/perfgate/perfgate/fixtures"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func doOne(t *testing.T, srv *fakeServer, c Case) Record {
	t.Helper()
	cl := newClient(srv.URL, "fake-model", c)
	defer cl.close()
	req := fixtures.Request{Index: 3, Tokens: []int{101, 102, 103}, InputTokens: 3, OutputTokens: 8}
	var rec Record
	cl.do(t.Context(), &req, nil, time.Now(), &rec)
	return rec
}

func TestClientOK(t *testing.T) {
	srv := newFakeServer(t, time.Millisecond, nil)
	rec := doOne(t, srv, Case{})
	require.Equal(t, OK, rec.Outcome, rec.Error)
	assert.Equal(t, 8, rec.Chunks)
	assert.Equal(t, 8, rec.OutputTokens)
	assert.Equal(t, 3, rec.InputTokens)
	assert.Len(t, rec.Tokens, 8)
	assert.Equal(t, rec.Tokens[0], rec.FirstToken)
	assert.GreaterOrEqual(t, rec.Done, rec.Tokens[7])
	for i := 1; i < len(rec.Tokens); i++ {
		assert.GreaterOrEqual(t, rec.Tokens[i]-rec.Tokens[i-1], time.Duration(0))
	}
	tpot, ok := rec.TPOT()
	assert.True(t, ok)
	assert.Positive(t, tpot)
}

func TestClientFaults(t *testing.T) {
	for _, tc := range []struct {
		fault string
		want  Outcome
		msg   string
	}{
		{"500", HTTPError, "injected failure"},
		{"cut", Disconnect, "before [DONE]"},
		{"nodone", Disconnect, "before [DONE]"},
		{"malformed", Malformed, "malformed chunk"},
		{"error", ServerError, "engine died"},
		{"stall", Stall, "request 3"},
	} {
		t.Run(tc.fault, func(t *testing.T) {
			srv := newFakeServer(t, time.Millisecond, func(int64) string { return tc.fault })
			rec := doOne(t, srv, Case{StallTimeout: 100 * time.Millisecond})
			assert.Equal(t, tc.want, rec.Outcome)
			assert.Contains(t, rec.Error, tc.msg)
			assert.Positive(t, rec.Done)
		})
	}
}

func TestClientTimeout(t *testing.T) {
	srv := newFakeServer(t, 50*time.Millisecond, nil)
	rec := doOne(t, srv, Case{Timeout: 120 * time.Millisecond})
	assert.Equal(t, Timeout, rec.Outcome)
}

func TestClientConnError(t *testing.T) {
	srv := newFakeServer(t, time.Millisecond, nil)
	srv.Close()
	rec := doOne(t, srv, Case{})
	assert.Equal(t, ConnError, rec.Outcome)
}

func TestRequestBody(t *testing.T) {
	cl := newClient("http://x", "m", Case{Extra: map[string]any{"ignore_eos": nil, "top_k": 1}})
	b, err := cl.body(&fixtures.Request{Tokens: []int{5, 6}, OutputTokens: 4})
	require.NoError(t, err)
	var got map[string]any
	require.NoError(t, json.Unmarshal(b, &got), string(b))
	assert.Equal(t, []any{5.0, 6.0}, got["prompt"])
	assert.Equal(t, 4.0, got["max_tokens"])
	assert.Equal(t, 1.0, got["top_k"])
	assert.NotContains(t, got, "ignore_eos")
	assert.Equal(t, map[string]any{"include_usage": true}, got["stream_options"])

	// The fields but the prompt are encoded once per output length: every body still has
	// its own prompt and length.
	for _, req := range []fixtures.Request{{Tokens: []int{7}, OutputTokens: 4}, {Tokens: []int{8, 9}, OutputTokens: 9}, {Tokens: []int{1}, OutputTokens: 4}} {
		b, err := cl.body(&req)
		require.NoError(t, err)
		got = nil
		require.NoError(t, json.Unmarshal(b, &got), string(b))
		want := []any{}
		for _, id := range req.Tokens {
			want = append(want, float64(id))
		}
		assert.Equal(t, want, got["prompt"])
		assert.Equal(t, float64(req.OutputTokens), got["max_tokens"])
		assert.Equal(t, float64(req.OutputTokens), got["min_tokens"])
	}
	bare := newClient("http://x", "m", Case{Extra: map[string]any{"model": nil, "max_tokens": nil, "min_tokens": nil, "ignore_eos": nil,
		"stream": nil, "stream_options": nil, "temperature": nil}})
	b, err = bare.body(&fixtures.Request{Tokens: []int{5}, OutputTokens: 4})
	require.NoError(t, err)
	assert.JSONEq(t, `{"prompt":[5]}`, string(b), "Extra removed every other field")

	chat := newClient("http://x", "m", Case{API: Chat})
	b, err = chat.body(&fixtures.Request{Text: "hello", OutputTokens: 2})
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &got))
	assert.Equal(t, []any{map[string]any{"role": "user", "content": "hello"}}, got["messages"])
}

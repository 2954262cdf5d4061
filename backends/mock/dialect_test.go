package mock

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// chunkSummary is what a client sees of one data event.
type chunkSummary struct {
	text       string
	usage      bool
	completion int
	choices    int
}

func streamEvents(t *testing.T, srv *Server, maxTokens int) []chunkSummary {
	t.Helper()
	body := fmt.Sprintf(`{"prompt":%s,"max_tokens":%d,"stream":true,"stream_options":{"include_usage":true}}`, tokenList(8, 1), maxTokens)
	code, b := post(t, http.DefaultClient, srv.BaseURL()+"/v1/completions", body)
	require.Equal(t, 200, code, string(b))
	var out []chunkSummary
	for ev := range strings.SplitSeq(string(b), "\n\n") {
		data, ok := strings.CutPrefix(ev, "data: ")
		if !ok || data == "[DONE]" {
			continue
		}
		var c struct {
			Choices []struct {
				Text string `json:"text"`
			} `json:"choices"`
			Usage *struct {
				CompletionTokens int `json:"completion_tokens"`
			} `json:"usage"`
		}
		require.NoError(t, json.Unmarshal([]byte(data), &c), data)
		s := chunkSummary{usage: c.Usage != nil, choices: len(c.Choices)}
		if len(c.Choices) > 0 {
			s.text = c.Choices[0].Text
		}
		if c.Usage != nil {
			s.completion = c.Usage.CompletionTokens
		}
		out = append(out, s)
	}
	return out
}

func TestDialectCoalesce(t *testing.T) {
	srv := Start(t, Config{SpeedupRatio: 100, Dialect: Dialect{Coalesce: 4}})
	evs := streamEvents(t, srv, 10)
	require.Len(t, evs, 4, "three chunks of 4, 4 and 2 tokens, then the usage chunk")
	assert.Equal(t, strings.Repeat(tokenText, 4), evs[0].text)
	assert.Equal(t, strings.Repeat(tokenText, 2), evs[2].text)
	assert.Equal(t, chunkSummary{usage: true, completion: 10, choices: 0}, evs[3])
}

func TestDialectUsageEveryChunk(t *testing.T) {
	srv := Start(t, Config{SpeedupRatio: 100, Dialect: Dialect{Coalesce: 3, UsageEveryChunk: true}})
	evs := streamEvents(t, srv, 7)
	var counts []int
	for _, e := range evs[:len(evs)-1] {
		require.True(t, e.usage)
		counts = append(counts, e.completion)
	}
	assert.Equal(t, []int{3, 6, 7}, counts, "completion tokens so far, on every chunk")
}

func TestDialectUsageWithLastChoice(t *testing.T) {
	srv := Start(t, Config{SpeedupRatio: 100, Dialect: Dialect{UsageWithLastChoice: true}})
	evs := streamEvents(t, srv, 3)
	require.Len(t, evs, 4, "three tokens, then an empty choice carrying usage; no choices:[] chunk")
	assert.Equal(t, chunkSummary{text: "", usage: true, completion: 3, choices: 1}, evs[3])
	for _, e := range evs[:3] {
		assert.False(t, e.usage)
	}
}

func TestDialectValidate(t *testing.T) {
	assert.ErrorContains(t, Config{Dialect: Dialect{Coalesce: -1}}.Validate(), "Dialect.Coalesce must be >= 0")
}

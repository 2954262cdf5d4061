package sse

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// llamaTimed is llama.cpp's last completions chunk with timings (tools/server at 82bb485:
// server_task_result_cmpl_final::to_json_oaicompat pushes result_timings::to_json beside
// the usage when timings.prompt_n >= 0).
const llamaTimed = `{"choices":[{"text":"","index":0,"logprobs":null,"finish_reason":"length"}],"created":1,"model":"m",` +
	`"system_fingerprint":"b6000-82bb485","object":"text_completion","usage":{"completion_tokens":32,"prompt_tokens":520,"total_tokens":552,` +
	`"prompt_tokens_details":{"cached_tokens":512}},"id":"cmpl-Zk3","timings":{"cache_n":512,"prompt_n":8,"prompt_ms":12.5,` +
	`"prompt_per_token_ms":1.5625,"prompt_per_second":640.0,"predicted_n":32,"predicted_ms":310.25,"predicted_per_token_ms":9.6953125,` +
	`"predicted_per_second":103.1}}`

func TestParseReadsIDAndTimings(t *testing.T) {
	c := Parse([]byte(llamaTimed))
	if c.Kind != EmptyChunk || string(c.ID) != "cmpl-Zk3" || !json.Valid(c.Timings) || !strings.HasPrefix(string(c.Timings), `{"cache_n":512`) {
		t.Fatalf("Parse = kind %d id %q timings %q", c.Kind, c.ID, c.Timings)
	}
	got, err := ParseTimings(c.Timings)
	if err != nil {
		t.Fatal(err)
	}
	want := Timings{PromptTokens: 8, CachedTokens: 512, PredictedTokens: 32, Prompt: 12500 * time.Microsecond, Predicted: 310250 * time.Microsecond}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("timings (-want +got):\n%s", diff)
	}
	for _, s := range []string{
		`{"id":"a","id":"b","choices":[]}`,                // the first id
		`{"id":5,"choices":[],"timings":[1]}`,             // an id that is no string, timings that are no object
		`{"choices":[],"timings":{"a":1},"timings":null}`, // the last timings object
	} {
		c := Parse([]byte(s))
		if c.Kind != UsageChunk {
			t.Errorf("Parse(%s) kind %d", s, c.Kind)
		}
	}
	if c := Parse([]byte(`{"id":"a","id":"b","choices":[],"timings":{"a":1},"timings":[]}`)); string(c.ID) != "a" || string(c.Timings) != `{"a":1}` {
		t.Errorf("first id, last timings object: got id %q timings %q", c.ID, c.Timings)
	}
}

func TestParseTimingsRefuses(t *testing.T) {
	for _, raw := range []string{
		`{"prompt_n":8,"prompt_ms":1}`, // no predicted_ms
		`{"prompt_n":-1,"prompt_ms":1,"predicted_ms":1}`,
		`{"prompt_n":1.5,"prompt_ms":1,"predicted_ms":1}`,
		`{"prompt_ms":-3,"predicted_ms":1}`,
		`{"prompt_ms":1,"predicted_ms":1e300}`,
		`{"prompt_ms":"1","predicted_ms":1}`,
		`[1]`,
	} {
		if got, err := ParseTimings([]byte(raw)); err == nil {
			t.Errorf("ParseTimings(%s) = %+v, want an error", raw, got)
		}
	}
	// Releases before cache_n: no cached tokens.
	got, err := ParseTimings([]byte(`{"prompt_n":8,"prompt_ms":2,"predicted_n":3,"predicted_ms":4}`))
	if err != nil || got.CachedTokens != 0 || got.PromptTokens != 8 {
		t.Errorf("ParseTimings without cache_n = %+v, %v", got, err)
	}
}

// TestTimingsCostNoAllocation: a chunk with an id and timings is classified without
// allocating, like any other chunk.
func TestTimingsCostNoAllocation(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race")
	}
	data := []byte(llamaTimed)
	if n := testing.AllocsPerRun(200, func() { _ = Parse(data) }); n != 0 {
		t.Errorf("Parse of a timed chunk: %v allocations", n)
	}
}

// FuzzTimings: timings are refused or possible, never impossible.
func FuzzTimings(f *testing.F) {
	for _, s := range []string{llamaTimed[strings.Index(llamaTimed, `{"cache_n"`) : len(llamaTimed)-1],
		`{"prompt_ms":1,"predicted_ms":1}`, `{"prompt_ms":null,"predicted_ms":1}`, `{"prompt_n":1e40,"prompt_ms":1,"predicted_ms":1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, err := ParseTimings(raw)
		if err != nil {
			return
		}
		if got.Prompt < 0 || got.Predicted < 0 || got.Prompt > 24*time.Hour || got.Predicted > 24*time.Hour ||
			got.PromptTokens < 0 || got.CachedTokens < 0 || got.PredictedTokens < 0 || got.PromptTokens > math.MaxInt32*512 {
			t.Fatalf("ParseTimings(%q) = %+v", raw, got)
		}
	})
}

package mock

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pngURL is a data URL of a w×h PNG whose pixels depend on seed.
func pngURL(t testing.TB, w, h int, seed uint8) string {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = uint8(i) ^ seed
	}
	img.Set(0, 0, color.Gray{seed})
	var b bytes.Buffer
	require.NoError(t, png.Encode(&b, img))
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(b.Bytes())
}

func imageMessage(urls ...string) string {
	parts := []string{`{"type":"text","text":"what is this"}`}
	for _, u := range urls {
		parts = append(parts, `{"type":"image_url","image_url":{"url":"`+u+`"}}`)
	}
	return `"messages":[{"role":"user","content":[` + strings.Join(parts, ",") + `]}]`
}

// Images: each is charged Qwen2-VL's token count in prompt_tokens (and in
// prompt_tokens_details.multimodal_tokens); the second sight of the same bytes hits the
// encoder cache (vllm:mm_cache_queries_total, vllm:mm_cache_hits_total); more images than
// --limit-mm-per-prompt get vLLM's error.
func TestImages(t *testing.T) {
	srv := Start(t, Config{SpeedupRatio: 100, Multimodal: Multimodal{LimitPerPrompt: map[string]int{"image": 2}}})
	c := client(t)
	a, b := pngURL(t, 640, 480, 1), pngURL(t, 1024, 1024, 2)
	url := srv.BaseURL() + "/v1/chat/completions"
	_, u := timedStream(t, c, url, `{`+imageMessage(a, b)+`,"max_tokens":2,"stream":true,"stream_options":{"include_usage":true}}`)
	// role, "what is this" (3), end, assistant: 6 text tokens; 391 + 1369 image tokens.
	assert.Equal(t, 6+391+1369, u.PromptTokens)
	assert.Equal(t, map[string]int{"image": 391 + 1369}, u.PromptTokensDetails.MultimodalTokens)
	_, u = timedStream(t, c, url, `{`+imageMessage(a)+`,"max_tokens":2,"stream":true,"stream_options":{"include_usage":true}}`)
	assert.Equal(t, 6+391, u.PromptTokens)
	assert.Equal(t, 3.0, metric(t, c, srv, "vllm:mm_cache_queries_total"))
	assert.Equal(t, 1.0, metric(t, c, srv, "vllm:mm_cache_hits_total"))

	code, body := post(t, c, url, `{`+imageMessage(a, b, a)+`,"max_tokens":2}`)
	assert.Equal(t, 400, code)
	assert.Contains(t, string(body), "At most 2 image(s) may be provided in one prompt. Set `--limit-mm-per-prompt` to increase this limit.")
	code, body = post(t, c, url, `{`+imageMessage("https://example.com/cat.png")+`,"max_tokens":2}`)
	assert.Equal(t, 400, code)
	assert.Contains(t, string(body), "data URLs only")
	code, body = post(t, c, url, `{`+imageMessage("data:image/png;base64,AAAA")+`,"max_tokens":2}`)
	assert.Equal(t, 400, code)
	assert.Contains(t, string(body), "not a PNG, JPEG or GIF")
}

// The encoder costs EncoderMS + EncoderTokenMS per token once per image bytes, and a
// schema's grammar CompileMS once; the engine charges the sum to the request's first step
// (TestGrammarAndEncoderCosts).
func TestOnceCosts(t *testing.T) {
	srv, err := New(Config{Multimodal: Multimodal{EncoderMS: 100, EncoderTokenMS: 0.1, EncoderCacheTokens: 150},
		StructuredOutput: StructuredOutput{CompileMS: 30}})
	require.NoError(t, err)
	defer srv.Close()
	a, b := imageRef{hash: 1, tokens: 100}, imageRef{hash: 2, tokens: 100}
	cost := func(schema uint64, ims ...imageRef) float64 {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		return srv.onceCost(&apiRequest{images: ims, out: output{schema: schema}})
	}
	assert.InDelta(t, 110+30, cost(7, a), 1e-9, "a new image and a new schema")
	assert.InDelta(t, 0, cost(7, a), 1e-9, "both cached")
	assert.InDelta(t, 110, cost(7, b), 1e-9, "b evicts a: the cache holds 150 tokens")
	assert.InDelta(t, 110+30, cost(8, a), 1e-9)
}

func TestPoolingRoutes(t *testing.T) {
	gen := Start(t, Config{SpeedupRatio: 100})
	pool := Start(t, Config{SpeedupRatio: 100, Runner: RunnerPooling, EmbeddingDim: 8})
	c := client(t)
	for _, x := range []struct {
		srv  *Server
		path string
		want string
	}{
		{gen, "/v1/embeddings", "The model does not support Embeddings API"},
		{gen, "/rerank", "The model does not support Rerank (Score) API"},
		{gen, "/score", "The model does not support Score API"},
		{pool, "/v1/chat/completions", "The model does not support Chat Completions API"},
		{pool, "/v1/completions", "The model does not support Completions API"},
		{pool, "/v1/responses", "The model does not support Responses API"},
	} {
		code, b := post(t, c, x.srv.BaseURL()+x.path, `{"input":"a","query":"q","documents":["d"],"text_1":"a","text_2":"b","prompt":"p","messages":[]}`)
		assert.Equal(t, 400, code, x.path)
		assert.Equal(t, `{"error":{"code":400,"message":"`+x.want+`","param":null,"type":"BadRequestError"}}`, string(b))
	}

	// Embeddings: one unit vector per input, usage counting every input's tokens.
	code, b := post(t, c, pool.BaseURL()+"/v1/embeddings", `{"model":"sim-llama-8b","input":["one two three","four five"]}`)
	require.Equal(t, 200, code, string(b))
	var emb struct {
		ID, Object, Model string
		Data              []struct {
			Index     int
			Object    string
			Embedding []float64
		}
		Usage map[string]any
	}
	require.NoError(t, json.Unmarshal(b, &emb))
	assert.Equal(t, "list", emb.Object)
	require.Len(t, emb.Data, 2)
	for i, d := range emb.Data {
		assert.Equal(t, i, d.Index)
		assert.Equal(t, "embedding", d.Object)
		require.Len(t, d.Embedding, 8)
		n := 0.0
		for _, x := range d.Embedding {
			n += x * x
		}
		assert.InDelta(t, 1, n, 1e-5)
	}
	assert.Equal(t, map[string]any{"prompt_tokens": 5.0, "total_tokens": 5.0, "completion_tokens": 0.0, "prompt_tokens_details": nil}, emb.Usage)

	// base64: the same floats, little-endian float32.
	_, b = post(t, c, pool.BaseURL()+"/v1/embeddings", `{"input":"one two three","encoding_format":"base64"}`)
	var b64 struct{ Data []struct{ Embedding string } }
	require.NoError(t, json.Unmarshal(b, &b64))
	raw, err := base64.StdEncoding.DecodeString(b64.Data[0].Embedding)
	require.NoError(t, err)
	require.Len(t, raw, 32)
	assert.InDelta(t, emb.Data[0].Embedding[3], math.Float32frombits(binary.LittleEndian.Uint32(raw[12:])), 1e-6)

	// Rerank: results by relevance, top_n of them, the documents echoed.
	_, b = post(t, c, pool.BaseURL()+"/v1/rerank", `{"query":"what","documents":["a b","c","d e f"],"top_n":2}`)
	var rr struct {
		ID      string
		Usage   map[string]int
		Results []struct {
			Index    int
			Document struct{ Text string }
			Score    float64 `json:"relevance_score"`
		}
	}
	require.NoError(t, json.Unmarshal(b, &rr), string(b))
	require.Len(t, rr.Results, 2)
	assert.True(t, strings.HasPrefix(rr.ID, "rerank-"))
	assert.GreaterOrEqual(t, rr.Results[0].Score, rr.Results[1].Score)
	assert.Equal(t, map[string]int{"total_tokens": 5 + 4 + 6}, rr.Usage, "query, separator, document, end per pair")

	// Score: 1:N pairs.
	_, b = post(t, c, pool.BaseURL()+"/score", `{"text_1":"q","text_2":["a","b","c"]}`)
	var sc struct {
		Data []struct {
			Index  int
			Object string
			Score  float64
		}
	}
	require.NoError(t, json.Unmarshal(b, &sc))
	require.Len(t, sc.Data, 3)
	assert.Equal(t, "score", sc.Data[2].Object)
	code, _ = post(t, c, pool.BaseURL()+"/score", `{"text_1":["q","r"],"text_2":["a","b","c"]}`)
	assert.Equal(t, 400, code)

	// Metrics: prompt tokens of all inputs, one success ("stop") per input.
	assert.Equal(t, 5.0+3+15+12, metric(t, c, pool, "vllm:prompt_tokens_total"))
	assert.Equal(t, 0.0, metric(t, c, pool, "vllm:generation_tokens_total"))
}

// responseEvents streams a Responses request and returns its event types and data.
func responseEvents(t *testing.T, srv *Server, body string) ([]string, []map[string]any) {
	t.Helper()
	resp, err := client(t).Post(srv.BaseURL()+"/v1/responses", "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	var types []string
	var data []map[string]any
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if e, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
			types = append(types, e)
		}
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			var m map[string]any
			require.NoError(t, json.Unmarshal([]byte(d), &m), d)
			data = append(data, m)
		}
	}
	require.Equal(t, len(types), len(data))
	for i, m := range data {
		assert.Equal(t, types[i], m["type"])
		assert.Equal(t, float64(i), m["sequence_number"])
	}
	return types, data
}

// The Responses API streams vLLM's events: created, in_progress, a reasoning item with
// its deltas, a message item with its deltas, completed with usage.
func TestResponsesStream(t *testing.T) {
	srv := Start(t, Config{SpeedupRatio: 100, Reasoning: Reasoning{Parser: "qwen3", Tokens: 2}})
	types, data := responseEvents(t, srv, `{"model":"sim-llama-8b","input":"hi","max_output_tokens":5,"stream":true}`)
	assert.Equal(t, []string{
		"response.created", "response.in_progress",
		"response.output_item.added", "response.content_part.added",
		"response.reasoning_text.delta", "response.reasoning_text.delta",
		"response.reasoning_text.done", "response.content_part.done", "response.output_item.done",
		"response.output_item.added", "response.content_part.added",
		"response.output_text.delta", "response.output_text.delta", "response.output_text.delta",
		"response.output_text.done", "response.content_part.done", "response.output_item.done",
		"response.completed",
	}, types)
	assert.Equal(t, " tok", data[4]["delta"])
	assert.Equal(t, "rs_1", data[4]["item_id"])
	assert.Equal(t, "msg_1", data[11]["item_id"])
	assert.Equal(t, 1.0, data[11]["output_index"])
	assert.Equal(t, " tok tok tok", data[14]["text"])
	resp := data[len(data)-1]["response"].(map[string]any)
	assert.Equal(t, "incomplete", resp["status"], "a text answer cut at max_output_tokens")
	assert.Equal(t, map[string]any{"input_tokens": 4.0, "input_tokens_details": map[string]any{"cached_tokens": 0.0},
		"output_tokens": 5.0, "output_tokens_details": map[string]any{"reasoning_tokens": 2.0}, "total_tokens": 9.0}, resp["usage"])
	assert.Len(t, resp["output"], 2)
}

// A function call on the Responses API: the item opens with the name, the arguments come
// as function_call_arguments deltas.
func TestResponsesToolCall(t *testing.T) {
	srv := Start(t, Config{SpeedupRatio: 100})
	types, data := responseEvents(t, srv, `{"input":[{"role":"user","content":[{"type":"input_text","text":"hi"}]}],`+
		`"tools":[{"type":"function","name":"get_weather","parameters":{"required":["city"]}}],"tool_choice":"required","max_output_tokens":4,"stream":true}`)
	assert.Equal(t, []string{
		"response.created", "response.in_progress",
		"response.output_item.added",
		"response.function_call_arguments.delta", "response.function_call_arguments.delta", "response.function_call_arguments.delta",
		"response.function_call_arguments.done", "response.output_item.done",
		"response.completed",
	}, types)
	item := data[2]["item"].(map[string]any)
	assert.Equal(t, "function_call", item["type"])
	assert.Equal(t, "get_weather", item["name"])
	assert.Equal(t, `{"city":" tok"}`, data[6]["arguments"])
	resp := data[len(data)-1]["response"].(map[string]any)
	assert.Equal(t, "completed", resp["status"])

	// Not streamed: the same response as one body.
	code, b := post(t, client(t), srv.BaseURL()+"/v1/responses", `{"input":"hi","max_output_tokens":3}`)
	require.Equal(t, 200, code)
	var r struct {
		Object, Status string
		Output         []struct {
			Type    string
			Content []struct{ Text string }
		}
	}
	require.NoError(t, json.Unmarshal(b, &r))
	assert.Equal(t, "response", r.Object)
	assert.Equal(t, " tok tok tok", r.Output[0].Content[0].Text)
}

// Speculative decoding on the wire: a chunk per engine step carrying 1 + accepted tokens;
// with continuous usage stats each chunk's completion_tokens counts them; vLLM's
// counters add up.
func TestSpeculativeStream(t *testing.T) {
	// At speedup 2 a step takes about 3 ms: the client keeps up, so a chunk is a step.
	srv := Start(t, Config{SpeedupRatio: 2, Speculative: Speculative{Method: "eagle", NumSpeculativeTokens: 3, AcceptanceRate: 0.7}})
	c := client(t)
	ev := stream(t, c, srv.BaseURL()+"/v1/completions",
		`{"prompt":"hi","max_tokens":100,"stream":true,"stream_options":{"include_usage":true,"continuous_usage_stats":true}}`)
	prev, multi := 0, 0
	for _, e := range ev[:len(ev)-2] {
		var ch struct {
			Choices []struct{ Text string } `json:"choices"`
			Usage   usage                   `json:"usage"`
		}
		require.NoError(t, json.Unmarshal([]byte(e), &ch))
		n := strings.Count(ch.Choices[0].Text, tokenText)
		assert.Equal(t, prev+n, ch.Usage.CompletionTokens, "usage counts the chunk's tokens")
		prev = ch.Usage.CompletionTokens
		if n > 1 {
			multi++
		}
	}
	assert.Equal(t, 100, prev)
	assert.Positive(t, multi, "chunks carrying accepted draft tokens")
	drafts := metric(t, c, srv, "vllm:spec_decode_num_drafts_total")
	draftTokens := metric(t, c, srv, "vllm:spec_decode_num_draft_tokens_total")
	accepted := metric(t, c, srv, "vllm:spec_decode_num_accepted_tokens_total")
	assert.LessOrEqual(t, draftTokens, 3*drafts)
	assert.Greater(t, accepted, 0.0)
	assert.Equal(t, 100.0, metric(t, c, srv, "vllm:generation_tokens_total"))
	assert.InDelta(t, 100, 1+drafts+accepted, 3, "tokens = first + one per decode step + accepted (a step near the end may not draft)")
	assert.Equal(t, map[string]string{"spec-drafts": "vllm:spec_decode_num_drafts_total", "spec-draft-tokens": "vllm:spec_decode_num_draft_tokens_total",
		"spec-accepted-tokens": "vllm:spec_decode_num_accepted_tokens_total"}, subMap(srv.MetricNames(), "spec-"))
}

func subMap(m map[string]string, prefix string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		if strings.HasPrefix(k, prefix) {
			out[k] = v
		}
	}
	return out
}

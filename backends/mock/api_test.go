package mock

import (
	"net/http"
	"testing"
)

// FuzzDecodeRequest checks that the request decoder never panics and that whatever it
// accepts is a request the engine can run; seeds are in testdata/fuzz/FuzzDecodeRequest.
//
//	go test -fuzz FuzzDecodeRequest -fuzztime 1m ./backends/mock
func FuzzDecodeRequest(f *testing.F) {
	const maxModelLen = 64
	cfg := Config{MaxModelLen: maxModelLen, Reasoning: Reasoning{Parser: "qwen3"},
		Tools: Tools{AutoToolChoice: true, Parser: "hermes", AutoTextRate: 0.5}}.withDefaults()
	f.Fuzz(func(t *testing.T, body []byte, chat bool) {
		api := apiCompletions
		if chat {
			api = apiChat
		}
		r, err := decodeRequest(body, api, &cfg)
		if err != nil {
			if err.status < 400 || err.status > 499 || err.msg == "" || err.typ == "" {
				t.Fatalf("bad error %+v", err)
			}
			if err.status != http.StatusBadRequest && err.status != http.StatusNotFound {
				t.Fatalf("status %d", err.status)
			}
			return
		}
		if r.model != DefaultModel || r.api != api {
			t.Fatalf("request %+v", r)
		}
		if o := r.out; o.maxTokens != r.maxTokens || o.reasoning < 0 || o.reasoning > r.maxTokens ||
			o.answer != answerText && o.reasoning >= r.maxTokens || o.answer == answerTool && o.tool == "" {
			t.Fatalf("output plan %+v for %d tokens", o, r.maxTokens)
		}
		if len(r.tokens) < 1 || r.maxTokens < 1 || len(r.tokens)+r.maxTokens > maxModelLen {
			t.Fatalf("accepted %d prompt + %d output tokens", len(r.tokens), r.maxTokens)
		}
		for _, tok := range r.tokens {
			if tok < 0 {
				t.Fatalf("negative token %d", tok)
			}
		}
		if r.includeUsage && !r.stream {
			t.Fatal("include_usage without stream")
		}
	})
}

// FuzzDecodeOtherAPIs is FuzzDecodeRequest for the Responses API (api 0) and the pooling
// routes (1 embeddings, 2 score, 3 rerank): no panic, 4xx errors only, and an accepted
// request the engine can run. Seeds are in testdata/fuzz/FuzzDecodeOtherAPIs.
//
//	go test -fuzz FuzzDecodeOtherAPIs -fuzztime 1m ./backends/mock
func FuzzDecodeOtherAPIs(f *testing.F) {
	const maxModelLen = 64
	gen := Config{MaxModelLen: maxModelLen, Reasoning: Reasoning{Parser: "qwen3"}}.withDefaults()
	pool := Config{MaxModelLen: maxModelLen, Runner: RunnerPooling, EmbeddingDim: 4}.withDefaults()
	f.Fuzz(func(t *testing.T, body []byte, which uint8) {
		api, cfg := apiResponses, &gen
		if k := which % 4; k > 0 {
			api, cfg = apiResponses+apiKind(k), &pool
		}
		r, err := decodeRequest(body, api, cfg)
		if err != nil {
			if err.status != http.StatusBadRequest && err.status != http.StatusNotFound || err.msg == "" {
				t.Fatalf("bad error %+v", err)
			}
			return
		}
		if r.api != api || r.model != DefaultModel {
			t.Fatalf("request %+v", r)
		}
		if api == apiResponses {
			if len(r.tokens) < 1 || r.maxTokens < 1 || len(r.tokens)+r.maxTokens > maxModelLen || r.out.reasoning > r.maxTokens {
				t.Fatalf("accepted %d prompt + %d output tokens, plan %+v", len(r.tokens), r.maxTokens, r.out)
			}
			return
		}
		if len(r.pool.inputs) == 0 || api == apiRerank && len(r.pool.docs) != len(r.pool.inputs) {
			t.Fatalf("pooling request %+v", r.pool)
		}
		for _, in := range r.pool.inputs {
			if len(in) < 1 || len(in) > maxModelLen {
				t.Fatalf("input of %d tokens", len(in))
			}
		}
	})
}

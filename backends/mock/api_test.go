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
	f.Fuzz(func(t *testing.T, body []byte, chat bool) {
		r, err := decodeRequest(body, chat, DefaultModel, maxModelLen)
		if err != nil {
			if err.status < 400 || err.status > 499 || err.msg == "" || err.typ == "" {
				t.Fatalf("bad error %+v", err)
			}
			if err.status != http.StatusBadRequest && err.status != http.StatusNotFound {
				t.Fatalf("status %d", err.status)
			}
			return
		}
		if r.model != DefaultModel || r.chat != chat {
			t.Fatalf("request %+v", r)
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

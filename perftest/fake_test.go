package perftest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeServer is a minimal OpenAI-compatible streaming server for the client's own tests. The
// real simulator lives in backends/mock; this one exists to inject exact faults.
type fakeServer struct {
	*httptest.Server
	itl   time.Duration
	fault func(n int64) string // per request number: "", "500", "cut", "malformed", "error", "stall", "nodone"
	n     atomic.Int64
	stall chan struct{}
	once  sync.Once
}

func newFakeServer(t testing.TB, itl time.Duration, fault func(n int64) string) *fakeServer {
	f := &fakeServer{itl: itl, fault: fault, stall: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/models", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"object":"list","data":[{"id":"fake-model","object":"model"}]}`)
	})
	mux.HandleFunc("POST /v1/completions", f.complete)
	mux.HandleFunc("POST /v1/chat/completions", f.complete)
	f.Server = httptest.NewServer(mux)
	t.Cleanup(func() {
		f.once.Do(func() { close(f.stall) })
		f.Close()
	})
	return f
}

func (f *fakeServer) BaseURL() string { return f.URL }

func (f *fakeServer) complete(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Prompt    json.RawMessage `json:"prompt"`
		MaxTokens int             `json:"max_tokens"`
		IgnoreEOS bool            `json:"ignore_eos"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.MaxTokens <= 0 {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"error":{"message":"bad request","type":"invalid_request_error","code":400}}`)
		return
	}
	fault := ""
	if f.fault != nil {
		fault = f.fault(f.n.Add(1))
	}
	if fault == "500" {
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprint(w, `{"object":"error","message":"injected failure","type":"InternalServerError","code":500}`)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	fl := w.(http.Flusher)
	for i := range req.MaxTokens {
		select {
		case <-time.After(f.itl):
		case <-r.Context().Done():
			return
		}
		switch {
		case fault == "cut" && i == req.MaxTokens/2:
			panic(http.ErrAbortHandler) // drops the connection mid-stream
		case fault == "malformed" && i == 1:
			fmt.Fprint(w, "data: {\"choices\":[{\"text\":\n\n")
			fl.Flush()
			continue
		case fault == "error" && i == 1:
			fmt.Fprint(w, `data: {"object":"error","message":"engine died","code":500}`+"\n\n")
			fl.Flush()
			return
		case fault == "stall" && i == 1:
			select {
			case <-f.stall:
			case <-r.Context().Done():
			}
			return
		}
		fmt.Fprintf(w, "data: {\"choices\":[{\"index\":0,\"text\":\" t%d\",\"finish_reason\":null}]}\n\n", i)
		fl.Flush()
	}
	fmt.Fprintf(w, "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":%d,\"completion_tokens\":%d}}\n\n", promptLen(req.Prompt), req.MaxTokens)
	if fault != "nodone" {
		fmt.Fprint(w, "data: [DONE]\n\n")
	}
	fl.Flush()
}

func promptLen(raw json.RawMessage) int {
	var ids []int
	if json.Unmarshal(raw, &ids) == nil {
		return len(ids)
	}
	return 1
}

//go:build unix

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// tokenChunk is one streamed token as vLLM sends it.
const tokenChunk = `data: {"id":"cmpl-1","object":"text_completion","created":1,"model":"bench","choices":[{"index":0,"text":" the","logprobs":null,"finish_reason":null,"stop_reason":null}],"usage":null}` + "\n\n"

// sseServer streams tokens the way an engine does: one step loop writes one token to every
// active stream per step, each write flushed to the connection on its own, then the usage
// chunk and [DONE] after a stream's last token.
type sseServer struct {
	step  time.Duration // 0: steps back to back
	flood bool          // no step loop: each stream writes its tokens back to back

	mu       sync.Mutex
	incoming []*sseStream
	wake     chan struct{} // a stream arrived while none was active
	held     int
	holding  []*sseStream // streams held after their first token until /release
}

type sseStream struct {
	w        http.ResponseWriter
	fl       http.Flusher
	sent     int
	max      int
	hold     bool
	finished chan struct{}
}

// serveSSE is the bare server: /v1/models, and /v1/completions streaming max_tokens token
// chunks, one per step. A request with "hold": true stops after its first token until
// /release is called; /held says how many are held. It prints its URL on out, then serves
// until ctx ends.
func serveSSE(ctx context.Context, out io.Writer, step time.Duration, flood bool) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	s := &sseServer{step: step, flood: flood, wake: make(chan struct{}, 1)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/models", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"object":"list","data":[{"id":"bench","object":"model"}]}`)
	})
	mux.HandleFunc("GET /held", func(w http.ResponseWriter, _ *http.Request) {
		s.mu.Lock()
		n := s.held
		s.mu.Unlock()
		_, _ = io.WriteString(w, strconv.Itoa(n))
	})
	mux.HandleFunc("POST /release", func(http.ResponseWriter, *http.Request) {
		s.mu.Lock()
		s.incoming = append(s.incoming, s.holding...)
		s.holding, s.held = nil, 0
		s.mu.Unlock()
		s.poke()
	})
	mux.HandleFunc("POST /v1/completions", s.complete)
	srv := &http.Server{Handler: mux}
	go s.loop(ctx)
	go func() { <-ctx.Done(); _ = srv.Close() }()
	fmt.Fprintf(out, "http://%s\n", ln.Addr())
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		return err
	}
	return nil
}

func (s *sseServer) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *sseServer) complete(w http.ResponseWriter, r *http.Request) {
	var req struct {
		MaxTokens int  `json:"max_tokens"`
		Hold      bool `json:"hold"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.MaxTokens <= 0 {
		http.Error(w, `{"error":{"message":"want max_tokens"}}`, http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	if s.flood && !req.Hold {
		fl := w.(http.Flusher)
		chunk := []byte(tokenChunk)
		for range req.MaxTokens {
			if _, err := w.Write(chunk); err != nil {
				return
			}
			fl.Flush()
		}
		writeEnd(w, req.MaxTokens)
		fl.Flush()
		return
	}
	st := &sseStream{w: w, fl: w.(http.Flusher), max: req.MaxTokens, hold: req.Hold, finished: make(chan struct{})}
	s.mu.Lock()
	s.incoming = append(s.incoming, st)
	s.mu.Unlock()
	s.poke()
	// The step loop owns w until it closes finished (after the stream's end or a failed
	// write, which a client that went away causes).
	<-st.finished
}

// loop is the engine: each step writes the next token of every active stream.
func (s *sseServer) loop(ctx context.Context) {
	chunk := []byte(tokenChunk)
	var active []*sseStream
	next := time.Now()
	for ctx.Err() == nil {
		s.mu.Lock()
		active = append(active, s.incoming...)
		s.incoming = s.incoming[:0]
		s.mu.Unlock()
		if len(active) == 0 {
			select {
			case <-s.wake:
			case <-ctx.Done():
			}
			next = time.Now()
			continue
		}
		keep := active[:0]
		for _, st := range active {
			_, err := st.w.Write(chunk)
			if err == nil {
				st.fl.Flush()
			}
			st.sent++
			switch {
			case err != nil:
				close(st.finished)
			case st.sent == st.max:
				writeEnd(st.w, st.max)
				st.fl.Flush()
				close(st.finished)
			case st.hold && st.sent == 1:
				st.hold = false
				s.mu.Lock()
				s.holding = append(s.holding, st)
				s.held++
				s.mu.Unlock()
			default:
				keep = append(keep, st)
			}
		}
		clear(active[len(keep):])
		active = keep
		if s.step > 0 {
			next = next.Add(s.step)
			if d := time.Until(next); d > 0 {
				time.Sleep(d)
			} else {
				next = time.Now()
			}
		}
	}
}

// writeEnd writes the usage chunk and [DONE] of a stream of n tokens.
func writeEnd(w io.Writer, n int) {
	fmt.Fprintf(w, "data: {\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"created\":1,\"model\":\"bench\",\"choices\":[],\"usage\":{\"prompt_tokens\":16,\"total_tokens\":%d,\"completion_tokens\":%d}}\n\ndata: [DONE]\n\n", 16+n, n)
}

package fakeserver

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// fault answers a completion the way s.cfg.Fault misbehaves, and reports whether it did.
func (s *Server) fault(w http.ResponseWriter, r *http.Request, promptLen, tokens int) bool {
	fl := w.(http.Flusher)
	sse := func() { w.Header().Set("Content-Type", "text/event-stream") }
	token := func(i int) string {
		return fmt.Sprintf(`{"choices":[{"index":0,"text":" t%d","finish_reason":null}]}`, i)
	}
	usage := func(completion int) string {
		return fmt.Sprintf(`{"choices":[],"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}}`, promptLen, completion, promptLen+completion)
	}
	// events writes tokens events framed by frame, then the usage and [DONE].
	events := func(frame func(data string) string, done string, completion int) {
		sse()
		for i := range tokens {
			time.Sleep(s.cfg.ITL)
			fmt.Fprint(w, frame(token(i)))
			fl.Flush()
		}
		fmt.Fprint(w, frame(usage(completion)))
		fmt.Fprint(w, done)
		fl.Flush()
	}
	plain := func(data string) string { return "data: " + data + "\n\n" }
	switch s.cfg.Fault {
	case OneSlot:
		s.oneSlot(w, r, promptLen, tokens)
	case StreamForever:
		sse()
		for i := 0; ; i++ {
			select {
			case <-r.Context().Done():
				return true
			case <-s.quit:
				return true
			default:
			}
			if _, err := fmt.Fprint(w, plain(token(i))); err != nil {
				return true
			}
			fl.Flush()
			if i%64 == 0 {
				time.Sleep(time.Millisecond) // a fast engine, not a busy loop
			}
		}
	case Stall:
		sse()
		for i := range 3 {
			fmt.Fprint(w, plain(token(i)))
		}
		fl.Flush()
		s.hang(r)
	case Redirect:
		http.Redirect(w, r, "http://198.51.100.1/v1/completions", http.StatusFound)
	case ErrorNull:
		events(func(d string) string {
			return "data: " + strings.Replace(d, `{"choices"`, `{"error":null,"choices"`, 1) + "\n\n"
		}, "data: [DONE]\n\n", tokens)
	case BOM:
		sse()
		fmt.Fprint(w, "\uFEFF")
		events(plain, "data: [DONE]\n\n", tokens)
	case CROnly:
		events(func(d string) string { return "data: " + d + "\r\r" }, "data: [DONE]\r\r", tokens)
	case MultiLine:
		events(func(d string) string {
			half := len(d) / 2
			return "data: " + d[:half] + "\ndata: " + d[half:] + "\n\n"
		}, "data: [DONE]\n\n", tokens)
	case DoneSpace:
		events(plain, "data: [DONE] \n\n", tokens)
	case GzipBody:
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		fmt.Fprint(zw, `{"choices":[{"text":"not a stream"}]}`)
		_ = zw.Close()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Encoding", "gzip")
		_, _ = w.Write(b.Bytes())
	case HTMLBody:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, "<!doctype html><html><body><h1>Sign in</h1></body></html>")
	case HugeLine:
		sse()
		fmt.Fprint(w, "data: {\"choices\":[{\"index\":0,\"text\":\""+strings.Repeat("x", 2<<20)+"\"}]}\n\n")
	case UsageInflated:
		events(plain, "data: [DONE]\n\n", 100000)
	case UsageDeflated:
		events(plain, "data: [DONE]\n\n", 1)
	case HTTP500:
		httpError(w, http.StatusInternalServerError, "the engine is out of KV blocks")
	case CloseAfterHead:
		sse()
		fl.Flush()
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			_ = conn.Close()
		}
	case ErrorChunk:
		sse()
		for i := range 2 {
			fmt.Fprint(w, plain(token(i)))
		}
		fmt.Fprint(w, plain(`{"error":{"message":"CUDA out of memory","type":"server_error","code":500}}`))
		fl.Flush()
	case ErrorHuge:
		sse()
		fmt.Fprint(w, plain(token(0)))
		fmt.Fprint(w, plain(`{"error":{"message":"`+strings.Repeat("e", 512<<10)+`"}}`))
		fl.Flush()
	default:
		return false
	}
	return true
}

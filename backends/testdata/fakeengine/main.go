// Command fakeengine is a tiny OpenAI-compatible server for backends' container tests: it
// takes vLLM-style flags, serves /health, /v1/models and a streamed /v1/completions, and can
// fail while "loading" to exercise startup error reporting. It is built into a FROM scratch
// image by the tests.
package main

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"time"
)

func main() {
	fs := flag.NewFlagSet("fakeengine", flag.ContinueOnError)
	model := fs.String("model", "fake", "served model name")
	host := fs.String("host", "0.0.0.0", "listen host")
	port := fs.Int("port", 8000, "listen port")
	fail := fs.Int("fail-start", 0, "exit with this code while loading")
	_ = fs.Parse(os.Args[1:])
	fmt.Printf("fakeengine: loading %s (HF_TOKEN=%s)\n", *model, os.Getenv("HF_TOKEN"))
	if *fail != 0 {
		fmt.Fprintln(os.Stderr, "fakeengine: loading weights failed: CUDA out of memory")
		os.Exit(*fail)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("/v1/models", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"object":"list","data":[{"id":%q,"object":"model"}]}`, *model)
	})
	mux.HandleFunc("/v1/completions", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 1000 {
			if _, err := fmt.Fprintf(w, "data: {\"choices\":[{\"index\":0,\"text\":\"t%d\"}]}\n\n", i); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			time.Sleep(20 * time.Millisecond)
		}
		fmt.Fprint(w, "data: [DONE]\n\n")
	})
	fmt.Printf("fakeengine: serving %s on %s:%d\n", *model, *host, *port)
	if err := http.ListenAndServe(fmt.Sprintf("%s:%d", *host, *port), mux); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

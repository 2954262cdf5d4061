// Command fakeengine is a tiny OpenAI-compatible server for backends' container tests: it
// takes vLLM-style flags, serves /health, /v1/models and a streamed /v1/completions, and can
// fail while "loading" to exercise startup error reporting. It is built into a FROM scratch
// image by the tests.
//
// Given Dynamo's command lines (python3 -m dynamo.frontend|dynamo.vllm ...) it stands in for
// those processes: a worker serves /health on $DYN_SYSTEM_PORT; the frontend serves on
// --http-port and is healthy, and lists $FAKE_MODEL, only while it reaches the /health of
// $FAKE_WORKERS workers at worker-<i>:8081 over the Docker network. With
// DYN_DISCOVERY_BACKEND=file, workers register a file in $DYN_FILE_KV and the frontend also
// needs to find all of them there: the folder must be shared.
package main

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

func main() {
	fs := flag.NewFlagSet("fakeengine", flag.ContinueOnError)
	model := fs.String("model", "fake", "served model name")
	host := fs.String("host", "0.0.0.0", "listen host")
	port := fs.Int("port", 8000, "listen port")
	fail := fs.Int("fail-start", 0, "exit with this code while loading")
	_ = fs.Parse(os.Args[1:])
	if module := dynamoModule(os.Args[1:]); module != "" {
		dynamo(module, os.Args[1:])
		return
	}
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

func dynamoModule(args []string) string {
	for i := 0; i+1 < len(args); i++ {
		if args[i] == "-m" {
			return args[i+1]
		}
	}
	return ""
}

func flagValue(args []string, names ...string) string {
	for i := 0; i+1 < len(args); i++ {
		for _, n := range names {
			if args[i] == n {
				return args[i+1]
			}
		}
	}
	return ""
}

func dynamo(module string, args []string) {
	mux := http.NewServeMux()
	var addr string
	if module == "dynamo.frontend" {
		addr = ":" + flagValue(args, "--http-port")
		model := os.Getenv("FAKE_MODEL")
		workers, _ := strconv.Atoi(os.Getenv("FAKE_WORKERS"))
		healthy := func() error {
			if os.Getenv("DYN_DISCOVERY_BACKEND") == "file" {
				// File discovery: the workers registered in the shared folder.
				found, _ := filepath.Glob(filepath.Join(os.Getenv("DYN_FILE_KV"), "worker-*"))
				if len(found) < workers {
					return fmt.Errorf("%d of %d workers registered in %s", len(found), workers, os.Getenv("DYN_FILE_KV"))
				}
			}
			for i := range workers {
				resp, err := http.Get(fmt.Sprintf("http://worker-%d:8081/health", i))
				if err != nil {
					return err
				}
				resp.Body.Close()
			}
			return nil
		}
		mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
			if err := healthy(); err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
			}
		})
		mux.HandleFunc("/v1/models", func(w http.ResponseWriter, r *http.Request) {
			if healthy() != nil {
				fmt.Fprint(w, `{"object":"list","data":[]}`)
				return
			}
			fmt.Fprintf(w, `{"object":"list","data":[{"id":%q,"object":"model"}]}`, model)
		})
		fmt.Printf("fakeengine: dynamo frontend (router %s) on %s, %d workers\n", flagValue(args, "--router-mode"), addr, workers)
	} else {
		addr = ":" + os.Getenv("DYN_SYSTEM_PORT")
		if os.Getenv("DYN_DISCOVERY_BACKEND") == "file" {
			host, _ := os.Hostname()
			if err := os.WriteFile(filepath.Join(os.Getenv("DYN_FILE_KV"), "worker-"+host), []byte(module), 0o644); err != nil {
				fmt.Fprintln(os.Stderr, "register:", err)
				os.Exit(1)
			}
		}
		mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {})
		fmt.Printf("fakeengine: %s worker for %s, status on %s\n", module, flagValue(args, "--model", "--model-path"), addr)
	}
	if err := http.ListenAndServe(addr, mux); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// Package mock is a simulated LLM inference server: an iteration-level engine with a paged
// KV cache and automatic prefix caching, timed by a step-time profile, behind vLLM's
// OpenAI-compatible HTTP surface and Prometheus metrics. It needs no GPU and no Docker, so
// perf cases run against it on any CI machine and still react the way a real engine does to
// batching, queueing and KV-prefix reuse.
//
// In a test:
//
//	srv := mock.Start(t, mock.Config{Model: "sim-llama-8b"})
//	// send requests to srv.BaseURL() + "/v1/completions"
//
// As a command, `perfgate mock` takes vLLM's launch flags.
package mock

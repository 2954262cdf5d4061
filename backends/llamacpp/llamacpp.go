// Package llamacpp is what perfgate knows of llama.cpp's llama-server beyond the OpenAI
// API, for perf cases sent to a server you run ([Endpoint]). It was checked against
// llama-server built from ggml-org/llama.cpp commit 82bb485 (2026-08-07) running a tiny
// random-weight model, and its source (tools/server/server-context.cpp, server-http.cpp):
//
//   - The cache reset erases every slot: GET /slots lists them, POST /slots/{id}?action=erase
//     empties one (it needs --slot-save-path, else 501). It does not clear the host-RAM prompt
//     cache (--cache-ram, 8192 MiB by default): start the server with --cache-ram 0, or
//     perftest will find cached tokens right after the reset and record the reset as
//     ineffective.
//   - /metrics (with --metrics) has llamacpp:requests_deferred (requests waiting for a
//     slot); it has no KV-usage, prefix-cache or preemption figure, and no histogram of a
//     request's phases.
//   - Per request, the last chunk of every stream carries "timings" (result_timings::to_json
//     in server-task.cpp): prompt_n prompt tokens evaluated in prompt_ms (from the start of
//     prompt processing to the first token), cache_n found in the slot's cache, predicted_n
//     generated in predicted_ms (first token to last). perftest reads them with the answer
//     as the request's prefill and decode; the time a request waited for a slot is in
//     neither, and llama-server exports no OTLP spans.
//   - /v1/models names the model by its file path (--alias gives a stable name) and reports
//     meta.n_vocab: token-id prompts are checked against it before they are sent.
//   - Streams close the connection after each response while advertising Keep-Alive (the
//     client resends on a fresh connection); the final usage sits beside an empty last choice;
//     ignore_eos gives exactly max_tokens until the slot's context is full (-c divided by
//     -np), then stops early with finish_reason "length"; min_tokens is ignored.
package llamacpp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/perfgate/perfgate/backends"
	"github.com/perfgate/perfgate/backends/internal/kit"
	"github.com/perfgate/perfgate/perftest/engines"
)

// Engine is llama.cpp's knowledge (see the package doc).
var Engine = backends.Engine{
	Name:        "llamacpp",
	MetricNames: map[string]string{"waiting": "llamacpp:requests_deferred"},
	Reset:       eraseSlots,
	Vocabulary:  vocabulary,
	Request:     request,
}

// Endpoint is a llama-server you run, at url.
func Endpoint(url string) *backends.Server { return backends.Endpoint(url, Engine) }

// The engine is known by name to -perf.engine (perftest/engines) wherever this module is
// linked.
func init() {
	engines.Register(Engine.Name, func(url string) engines.Target { return Endpoint(url) })
}

// eraseSlots erases every slot's cached prompt.
func eraseSlots(ctx context.Context, base string) error {
	body, err := kit.Call(ctx, http.MethodGet, base+"/slots")
	if err != nil {
		return fmt.Errorf("list llama.cpp slots (needs --slots, on by default): %w", err)
	}
	var slots []struct {
		ID int `json:"id"`
	}
	if err := json.Unmarshal(body, &slots); err != nil {
		return fmt.Errorf("list llama.cpp slots: %w", err)
	}
	if len(slots) == 0 {
		return errors.New("list llama.cpp slots: none")
	}
	for _, s := range slots {
		if _, err := kit.Call(ctx, http.MethodPost, fmt.Sprintf("%s/slots/%d?action=erase", base, s.ID)); err != nil {
			return fmt.Errorf("erase llama.cpp slot %d (the route needs --slot-save-path): %w", s.ID, err)
		}
	}
	return nil
}

// vocabulary reads meta.n_vocab of the first model /v1/models lists.
func vocabulary(ctx context.Context, base string) (int, error) {
	body, err := kit.Call(ctx, http.MethodGet, base+"/v1/models")
	if err != nil {
		return 0, err
	}
	var m struct {
		Data []struct {
			Meta struct {
				NVocab int `json:"n_vocab"`
			} `json:"meta"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		return 0, fmt.Errorf("read /v1/models: %w", err)
	}
	if len(m.Data) == 0 || m.Data[0].Meta.NVocab <= 0 {
		return 0, errors.New("/v1/models reports no meta.n_vocab")
	}
	return m.Data[0].Meta.NVocab, nil
}

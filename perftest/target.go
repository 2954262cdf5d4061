package perftest

import (
	"context"
	"strings"
)

// Target is what a perf case sends its requests to: anything with an OpenAI-compatible base
// URL, such as a started simulator (mock.Start), a backend container, or Endpoint(url).
type Target interface {
	// BaseURL is the server's root, e.g. "http://127.0.0.1:8000", without "/v1".
	BaseURL() string
}

// Describer is implemented by targets that can say what they are. Describe returns config
// keys recorded with every result ("backend", "model", "image", "gpu", ...). Keys must be
// lower-case identifiers and values must have no spaces: they become benchmark config lines.
// Only keys that identify the system under test belong here (not tunables a regression
// could hide behind).
type Describer interface {
	Describe() map[string]string
}

// What perftest knows of engines it learns from these optional interfaces, which each
// engine's backend module (backends/vllm, backends/sglang, ...) and the simulator satisfy
// structurally: perftest itself never names an engine.

// CacheResetter is implemented by targets that can empty the server's prefix cache. The
// runner calls it before every repetition so that each one starts cold; a target without it,
// or a reset that fails, is said once in the log and recorded in the result's "cache-reset"
// config line, since later repetitions may then replay a warm cache.
type CacheResetter interface {
	ResetPrefixCache(ctx context.Context) error
}

// MetricsSource is implemented by targets that export figures perfgate can read: Prometheus
// metrics, and the server's own account of each request. MetricNames maps perfgate's keys
// to the engine's series names:
//
//	"prefix-hits", "prefix-queries"  counters of prompt tokens hit and looked up in the prefix cache
//	"preemptions"                    counter of preempted requests
//	"queue-time"                     histogram (or summary) of time spent waiting, in seconds
//	"prefill-time"                   histogram of time from first scheduling to the first token, in seconds
//	"decode-time"                    histogram of time from the first token to the last, in seconds
//	"inference-time"                 histogram of time from first scheduling to the last token, in seconds
//	"kv-usage"                       gauge of the KV cache's used fraction, 0 to 1
//	"waiting"                        gauge of requests waiting
//	"spec-drafts"                    counter of speculative drafts (one per request per verification step)
//	"spec-draft-tokens"              counter of draft tokens proposed
//	"spec-accepted-tokens"           counter of draft tokens the target model accepted
//	"spec-acceptance"                gauge of the share of draft tokens accepted (when no counters)
//	"spec-accept-length"             gauge of tokens per verification step, the target's own included
//
// and two keys to where the server's account of each request is, rather than to series:
//
//	"otlp-traces"   the address ("127.0.0.1:4318", "0.0.0.0:43170") the server exports OTLP/HTTP
//	                spans to (vLLM's --otlp-traces-endpoint): perfgate receives them there while
//	                a case runs and joins each to its request by the trace id of the traceparent
//	                it sent the request with
//	"perf-metrics"  the path of per-request perf metrics served apart from the stream
//	                (TensorRT-LLM's GET /perf_metrics with return_perf_metrics: a JSON list of
//	                {request_id, perf_metrics: {timing_metrics, kv_cache_metrics}}, drained as
//	                read), read after each repetition and joined by the id the stream gave the
//	                request
//
// Timings a server puts on the stream itself (llama.cpp's) need no key. A name the engine
// does not export is left out of the map; what a target cannot give is said once in the log
// and recorded in the result's "server-timing" config line.
type MetricsSource interface {
	MetricsURL() string
	MetricNames() map[string]string
}

// Vocabulary is implemented by targets whose server says how many tokens its vocabulary
// holds (llama.cpp does, in /v1/models). Token-id prompts are checked against it before they
// are sent: an id outside the vocabulary makes some servers reject the batch or crash.
type Vocabulary interface {
	VocabularySize(ctx context.Context) (int, error)
}

// Dialect is implemented by targets whose engine spells requests its own way. A body is
// built in layers, a nil value removing a field at any layer: perftest's own fields for the
// API ("completions", "chat", "responses", "embeddings", "rerank"), then RequestFields(api),
// then ReasoningFields(api, level) for a request that asks for reasoning at level ("off",
// "on", "low", "medium", "high": fixtures.Request.Reasoning; perftest itself spells only an
// effort, in the API's effort field), then Case.Extra. APIPath says where the server takes
// api's requests ("": perftest's default path), or returns an error saying that it serves no
// such API. CheckRequest gets the names of every field of a body for api, Case.Extra
// included, and returns an error naming each field the server would refuse (TensorRT-LLM
// answers 400 to any its protocol does not declare), or nil. Case.Validate reports both
// errors, so that such a case fails before it sends a request.
type Dialect interface {
	RequestFields(api string) map[string]any
	ReasoningFields(api, level string) map[string]any
	APIPath(api string) (string, error)
	CheckRequest(api string, fields []string) error
}

// Endpoint is a Target for a server that is already running. It knows nothing of the
// engine behind the URL: to reset its cache and read its metrics, use the engine module's
// endpoint instead (such as vllm.Endpoint).
func Endpoint(url string) Target {
	return endpoint(strings.TrimSuffix(strings.TrimSuffix(url, "/"), "/v1"))
}

type endpoint string

func (e endpoint) BaseURL() string { return string(e) }

// Describe implements Describer.
func (e endpoint) Describe() map[string]string { return map[string]string{"backend": "endpoint"} }

package backends

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
)

// Engine is what perfgate knows of an engine's HTTP surface beyond the OpenAI API: how to
// empty its prefix cache, where its Prometheus metrics are and what they are called, how
// it reports its vocabulary, which request fields it needs or refuses. Each engine module
// declares its own; a [Container] started from a [Spec] with an Engine, and a [Server] from
// [Endpoint], answer perftest's optional interfaces (CacheResetter, MetricsSource,
// Vocabulary, Dialect) with it.
type Engine struct {
	// Name is the engine's name, the Describe "backend" of an endpoint.
	Name string
	// MetricsPath is where the Prometheus text is served ("": "/metrics").
	MetricsPath string
	// MetricNames maps perftest's server metrics to the engine's series (see
	// perftest.MetricsSource; "a|b" lists alternatives, name{label="value"} selects).
	MetricNames map[string]string
	// Reset empties the prefix cache of the server at base; nil when the engine has no way.
	Reset func(ctx context.Context, base string) error
	// Vocabulary asks the server at base for its vocabulary size; nil when it does not say.
	Vocabulary func(ctx context.Context, base string) (int, error)
	// Request is how the engine's request bodies differ from perftest's (see Request).
	Request Request

	// Where the server's own account of each request is, beside its histograms (which
	// MetricNames names: "queue-time", "prefill-time", ...). Timings an engine puts on the
	// stream (llama.cpp's) need nothing here: perftest reads them with the answer.

	// PerfMetricsPath is where the server serves per-request perf metrics apart from the
	// stream (perftest.MetricsSource's "perf-metrics"; TensorRT-LLM's /perf_metrics), ""
	// for none.
	PerfMetricsPath string
	// TracesAddr is the address on this machine that the server exports OTLP/HTTP spans
	// to, where perftest receives them while a case runs (perftest.MetricsSource's
	// "otlp-traces"); "" for none. A module sets it on the Engine of a container it starts
	// with tracing on; for a server you run with tracing, set it on a copy of the module's
	// Engine and pass that to Endpoint.
	TracesAddr string
}

// metricNames are MetricNames with where the per-request account is.
func (e Engine) metricNames() map[string]string {
	if e.PerfMetricsPath == "" && e.TracesAddr == "" {
		return e.MetricNames
	}
	m := maps.Clone(e.MetricNames)
	if m == nil {
		m = map[string]string{}
	}
	if e.PerfMetricsPath != "" {
		m["perf-metrics"] = e.PerfMetricsPath
	}
	if e.TracesAddr != "" {
		m["otlp-traces"] = e.TracesAddr
	}
	return m
}

// ErrNoReset is wrapped by ResetPrefixCache when the engine has no cache reset. It is
// errors.ErrUnsupported, which perftest records as "cache-reset: unavailable".
var ErrNoReset = fmt.Errorf("the engine has no prefix-cache reset: %w", errors.ErrUnsupported)

func (e Engine) resetPrefixCache(ctx context.Context, base string) error {
	if e.Reset == nil {
		return fmt.Errorf("%s: %w", e.Name, ErrNoReset)
	}
	return e.Reset(ctx, base)
}

func (e Engine) vocabularySize(ctx context.Context, base string) (int, error) {
	if e.Vocabulary == nil {
		return 0, fmt.Errorf("%s does not report its vocabulary size: %w", e.Name, errors.ErrUnsupported)
	}
	return e.Vocabulary(ctx, base)
}

func (e Engine) metricsURL(base string) string {
	if e.MetricsPath == "" {
		return base + "/metrics"
	}
	return base + e.MetricsPath
}

// Server is an engine's server that is already running, for a perf case pointed at it:
// a perftest.Target with the engine's knowledge, as a started container has it.
type Server struct {
	url    string
	engine Engine
}

// Endpoint is the server of engine e at url (its root, with or without "/v1"). Engine
// modules offer it as their own Endpoint, such as vllm.Endpoint.
func Endpoint(url string, e Engine) *Server {
	return &Server{url: strings.TrimSuffix(strings.TrimSuffix(url, "/"), "/v1"), engine: e}
}

// BaseURL is the server's root (perftest.Target).
func (s *Server) BaseURL() string { return s.url }

// Describe names the backend (perftest.Describer): all that is known of a server one did
// not start.
func (s *Server) Describe() map[string]string { return map[string]string{"backend": s.engine.Name} }

// MetricsURL is where the server's Prometheus metrics are (perftest.MetricsSource).
func (s *Server) MetricsURL() string { return s.engine.metricsURL(s.url) }

// MetricNames maps perftest's server metrics to the engine's series (perftest.MetricsSource).
func (s *Server) MetricNames() map[string]string { return s.engine.metricNames() }

// ResetPrefixCache empties the server's prefix cache (perftest.CacheResetter); it wraps
// errors.ErrUnsupported for an engine that has no way.
func (s *Server) ResetPrefixCache(ctx context.Context) error {
	return s.engine.resetPrefixCache(ctx, s.url)
}

// VocabularySize is the server's vocabulary size (perftest.Vocabulary), for engines that
// report it.
func (s *Server) VocabularySize(ctx context.Context) (int, error) {
	return s.engine.vocabularySize(ctx, s.url)
}

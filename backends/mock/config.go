package mock

import (
	"cmp"
	"errors"
	"fmt"
	"time"
)

// Defaults of [Config] fields left at zero. The scheduler's limits are vLLM V1's for an
// OpenAI API server on a GPU of 70 GiB or more that is not an A100 (vllm/engine/arg_utils.py:
// max_num_seqs 1024, max_num_batched_tokens 8192; smaller GPUs get 256 and 2048), the class
// of the H100 that the default step-time profile describes.
const (
	DefaultModel               = "sim-llama-8b"
	DefaultMaxNumSeqs          = 1024
	DefaultMaxNumBatchedTokens = 8192
	DefaultBlockSize           = 16 // vLLM's default
	// DefaultNumGPUBlocks is the number of blocks in Dynamo's mocker default (16,384): with
	// vLLM's block size of 16 here, 262,144 tokens of KV cache. (The mocker's own blocks
	// are 64 tokens, so its cache holds 1,048,576.)
	DefaultNumGPUBlocks = 16384
	DefaultMaxModelLen  = 131072
	DefaultMaxBodyBytes = 16 << 20
)

// Config configures a simulated server. The zero Config is valid: every zero field takes
// the default named in its comment.
type Config struct {
	// Model is the served model name ("" means DefaultModel). Requests naming another
	// model get 404.
	Model string
	// Profile is the step-time model (zero value: DefaultProfile).
	Profile Profile
	// SpeedupRatio divides every step time (0 means 1): 10 runs the simulation ten times
	// faster than the profile's hardware.
	SpeedupRatio float64

	// MaxNumSeqs bounds the running set (DefaultMaxNumSeqs).
	MaxNumSeqs int
	// MaxNumBatchedTokens is the token budget of one step (DefaultMaxNumBatchedTokens),
	// spent on decodes first and then on prefill chunks.
	MaxNumBatchedTokens int
	// BlockSize is the KV block size in tokens (DefaultBlockSize).
	BlockSize int
	// NumGPUBlocks is the KV cache size in blocks (DefaultNumGPUBlocks).
	NumGPUBlocks int
	// UnlimitedKVCache makes the KV cache unbounded (NumGPUBlocks is then ignored and the
	// decode term sees a KV fraction of 0). Meant for offline replay.
	UnlimitedKVCache bool
	// MaxModelLen bounds prompt plus output tokens of a request (DefaultMaxModelLen, at
	// most the KV cache size).
	MaxModelLen int
	// DisablePrefixCaching turns automatic prefix caching off.
	DisablePrefixCaching bool

	// Seed seeds the step-time noise and the fault draws.
	Seed uint64
	// Noise is the standard deviation of a log-normal multiplicative factor (mean 1) on
	// every step time; 0 means none.
	Noise float64

	// StartupDelay is how long after New /health answers 503 (and the API 503) before the
	// server reports ready.
	StartupDelay time.Duration
	// Faults injects failures for reliability tests.
	Faults Faults
	// Dialect makes the stream look like another engine's.
	Dialect Dialect
	// OTLPTracesEndpoint, when set, makes the simulator export a span per request to this
	// OTLP/HTTP URL, as vLLM's --otlp-traces-endpoint does (traces.go): its own queue,
	// prefill and decode times, continuing the request's traceparent. A port of 0 is a
	// free port, chosen by New; MetricNames then says where perftest receives the spans
	// ("otlp-traces").
	OTLPTracesEndpoint string
	// KeepTimings keeps every finished request's true timing (Server.Timings), for tests
	// that check what a client learns of it against the truth.
	KeepTimings bool
	// MaxBodyBytes bounds a request body (DefaultMaxBodyBytes); a larger one gets 413.
	MaxBodyBytes int64
	// BodyTimeout bounds the reading of a request body once its headers arrived (0: 30
	// seconds; a slower one gets 400), IdleTimeout how long a kept-alive connection may
	// wait for its next request (0: 2 minutes, above clients' usual 90 seconds): a slow or
	// idle client is not held forever.
	BodyTimeout, IdleTimeout time.Duration

	// What the simulated model does beyond a text answer (features.go); the zero value of
	// each turns nothing on, and a request that asks for none of them is served as before.

	// Reasoning makes chat answers start with reasoning tokens.
	Reasoning Reasoning
	// Tools lets tool_choice "auto" call tools.
	Tools Tools
	// StructuredOutput prices JSON answers.
	StructuredOutput StructuredOutput
	// Multimodal caps and prices images.
	Multimodal Multimodal
	// Speculative turns speculative decoding on.
	Speculative Speculative
	// Runner is vLLM's --runner: RunnerGenerate ("" or "auto" too) serves completions,
	// chat and responses; RunnerPooling serves embeddings, score and rerank instead,
	// costed as prefill only. Each answers the other's routes with vLLM's error.
	Runner string
	// EmbeddingDim is the length of an embedding (DefaultEmbeddingDim).
	EmbeddingDim int
}

// Faults injects failures. Rates are probabilities per request in [0, 1], drawn from a PRNG
// seeded by Config.Seed in arrival order; streamed faults strike halfway through the output.
type Faults struct {
	// ErrorRate is the fraction of requests answered with HTTP 500 before any work.
	ErrorRate float64
	// DisconnectRate is the fraction of responses whose connection is cut mid-stream
	// (without a final chunk or [DONE]).
	DisconnectRate float64
	// StallRate is the fraction of streams that stop sending for Stall mid-stream; the
	// tokens generated meanwhile follow at once.
	StallRate float64
	// Stall is the length of a stall (default 1s).
	Stall time.Duration
	// MalformedRate is the fraction of streams that carry one event that is not valid JSON.
	MalformedRate float64
	// SlowStart makes the engine slow right after startup: for this long after the server
	// is ready, steps take up to SlowStartFactor times longer, easing linearly to normal
	// (a cold start: kernels compiled, caches warmed).
	SlowStart time.Duration
	// SlowStartFactor is the step-time factor at the start of SlowStart (default 3).
	SlowStartFactor float64
}

// Dialect makes the simulator's stream look like another engine's, so that a client can be
// tested against each engine's habits without the engine.
type Dialect struct {
	// Coalesce merges up to this many tokens into one chunk (0 or 1: a chunk per token), as
	// vLLM's output collector does when the client reads slower than the engine produces,
	// and llama.cpp when it holds back partial UTF-8.
	Coalesce int
	// UsageEveryChunk puts usage, with the completion tokens so far, on every chunk, as
	// TensorRT-LLM and SGLang do with continuous usage stats: a client can tell how many
	// tokens each chunk carried.
	UsageEveryChunk bool
	// UsageWithLastChoice sends the final usage beside a last choice with empty text and the
	// finish reason, as llama.cpp does, instead of a separate "choices": [] chunk.
	UsageWithLastChoice bool
	// ReasoningField is the delta field reasoning streams in: "reasoning" (the default,
	// vLLM's since it stopped sending reasoning_content) or "reasoning_content" (SGLang,
	// llama.cpp with --reasoning-format deepseek, DeepSeek's API).
	ReasoningField string
	// Timings puts llama.cpp's "timings" object on the last chunk of a stream, as
	// llama-server does (tools/server at 82bb485, result_timings::to_json): prompt_n
	// tokens not found in the cache, cache_n found, prompt_ms from the first scheduling to
	// the first token, predicted_n and predicted_ms from the first token to the last, and
	// their per-token and per-second rates.
	Timings bool
}

func (c Config) withDefaults() Config {
	if c.Model == "" {
		c.Model = DefaultModel
	}
	c.Profile = c.Profile.resolved()
	if c.SpeedupRatio == 0 {
		c.SpeedupRatio = 1
	}
	if c.MaxNumSeqs == 0 {
		c.MaxNumSeqs = DefaultMaxNumSeqs
	}
	if c.MaxNumBatchedTokens == 0 {
		c.MaxNumBatchedTokens = DefaultMaxNumBatchedTokens
	}
	if c.BlockSize == 0 {
		c.BlockSize = DefaultBlockSize
	}
	if c.NumGPUBlocks == 0 {
		c.NumGPUBlocks = DefaultNumGPUBlocks
	}
	if c.MaxModelLen == 0 {
		c.MaxModelLen = DefaultMaxModelLen
		if !c.UnlimitedKVCache && c.BlockSize > 0 && c.NumGPUBlocks > 0 {
			c.MaxModelLen = min(c.MaxModelLen, c.NumGPUBlocks*c.BlockSize)
		}
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	c.BodyTimeout = cmp.Or(c.BodyTimeout, 30*time.Second)
	c.IdleTimeout = cmp.Or(c.IdleTimeout, 2*time.Minute)
	if c.Faults.Stall == 0 {
		c.Faults.Stall = time.Second
	}
	if c.Faults.SlowStartFactor == 0 {
		c.Faults.SlowStartFactor = 3
	}
	return c.featureDefaults()
}

func (c Config) featureDefaults() Config {
	if c.Dialect.ReasoningField == "" {
		c.Dialect.ReasoningField = "reasoning"
	}
	if c.Reasoning.Fraction == 0 {
		c.Reasoning.Fraction = 0.5
	}
	if c.Reasoning.Slowdown == 0 {
		c.Reasoning.Slowdown = 1
	}
	m := &c.Multimodal
	if m.EncoderMS == 0 {
		m.EncoderMS = 2
	}
	if m.EncoderTokenMS == 0 {
		m.EncoderTokenMS = 0.02
	}
	if m.EncoderCacheTokens == 0 {
		m.EncoderCacheTokens = c.MaxNumBatchedTokens
	}
	if c.EmbeddingDim == 0 {
		c.EmbeddingDim = DefaultEmbeddingDim
	}
	return c
}

// Validate reports every problem with the configuration at once (after defaults).
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if err := c.Profile.Validate(); err != nil {
		errs = append(errs, err)
	}
	if !(c.SpeedupRatio > 0) {
		bad("SpeedupRatio must be > 0, got %g", c.SpeedupRatio)
	}
	if c.MaxNumSeqs < 0 {
		bad("MaxNumSeqs must be > 0, got %d", c.MaxNumSeqs)
	}
	if c.MaxNumBatchedTokens < 0 {
		bad("MaxNumBatchedTokens must be > 0, got %d", c.MaxNumBatchedTokens)
	}
	if c.BlockSize < 0 {
		bad("BlockSize must be > 0, got %d", c.BlockSize)
	}
	if c.NumGPUBlocks < 0 {
		bad("NumGPUBlocks must be > 0, got %d", c.NumGPUBlocks)
	}
	if c.NumGPUBlocks > maxBlocks {
		bad("NumGPUBlocks must be <= %d, got %d (use UnlimitedKVCache)", maxBlocks, c.NumGPUBlocks)
	}
	if c.MaxModelLen < 0 {
		bad("MaxModelLen must be > 0, got %d", c.MaxModelLen)
	}
	if !c.UnlimitedKVCache && c.BlockSize > 0 && c.NumGPUBlocks > 0 && c.MaxModelLen > c.NumGPUBlocks*c.BlockSize {
		bad("MaxModelLen %d does not fit in the KV cache (%d blocks of %d tokens = %d tokens)",
			c.MaxModelLen, c.NumGPUBlocks, c.BlockSize, c.NumGPUBlocks*c.BlockSize)
	}
	if c.Noise < 0 {
		bad("Noise must be >= 0, got %g", c.Noise)
	}
	if c.StartupDelay < 0 {
		bad("StartupDelay must be >= 0, got %v", c.StartupDelay)
	}
	if c.BodyTimeout < 0 || c.IdleTimeout < 0 {
		bad("BodyTimeout and IdleTimeout must be >= 0, got %v and %v", c.BodyTimeout, c.IdleTimeout)
	}
	if c.MaxBodyBytes < 0 {
		bad("MaxBodyBytes must be > 0, got %d", c.MaxBodyBytes)
	}
	if c.Dialect.Coalesce < 0 {
		bad("Dialect.Coalesce must be >= 0, got %d", c.Dialect.Coalesce)
	}
	f := c.Faults
	for _, r := range []struct {
		name string
		v    float64
	}{{"ErrorRate", f.ErrorRate}, {"DisconnectRate", f.DisconnectRate}, {"StallRate", f.StallRate}, {"MalformedRate", f.MalformedRate}} {
		if !(r.v >= 0 && r.v <= 1) {
			bad("Faults.%s must be in [0, 1], got %g", r.name, r.v)
		}
	}
	if f.Stall < 0 || f.SlowStart < 0 {
		bad("Faults.Stall and Faults.SlowStart must be >= 0")
	}
	if !(f.SlowStartFactor >= 1) {
		bad("Faults.SlowStartFactor must be >= 1, got %g", f.SlowStartFactor)
	}
	errs = append(errs, c.validateFeatures()...)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("mock config: %w", err)
	}
	return nil
}

package perftest

import (
	"strconv"
	"time"

	"github.com/perfgate/perfgate/perftest/internal/sse"
)

// Outcome classifies how a request ended. Failed requests are data, not reasons to stop.
type Outcome string

// Outcomes of a request.
const (
	OK          Outcome = "ok"
	HTTPError   Outcome = "http_error"   // the server answered with a non-200 status
	ConnError   Outcome = "connect"      // no response: refused, reset before headers
	Timeout     Outcome = "timeout"      // Case.Timeout passed
	Stall       Outcome = "stall"        // no event for Case.StallTimeout
	Disconnect  Outcome = "disconnect"   // the stream ended before data: [DONE]
	Malformed   Outcome = "malformed"    // a chunk that is not a completion chunk
	ServerError Outcome = "server_error" // an error object inside the stream
	Canceled    Outcome = "canceled"     // the run was stopped (test deadline, interrupt)
	Dropped     Outcome = "dropped"      // an open-loop arrival over Load.MaxInFlight, never sent
)

// Record is what happened to one request. Times are offsets from Scheduled, the moment the
// request was due to be sent: latencies include any delay before it actually went out.
type Record struct {
	Index   int    `json:"index"`
	Session string `json:"session,omitempty"`
	Turn    int    `json:"turn,omitempty"`
	// Scheduled is when the request was due, as an offset from the start of the repetition.
	Scheduled time.Duration `json:"scheduled_ns"`
	// Sent is when the request was handed to the connection (schedule lag).
	Sent time.Duration `json:"sent_ns"`
	// FirstToken is when the first chunk carrying a token of any kind arrived (TTFT):
	// answer text, reasoning, tool-call arguments or a refusal.
	FirstToken time.Duration `json:"first_token_ns,omitempty"`
	// FirstOutput is when the first chunk carrying a token that is not reasoning arrived
	// (time to first output token); 0 when none came (a stream of reasoning alone).
	FirstOutput time.Duration `json:"first_output_ns,omitempty"`
	// Done is when the stream ended (end-to-end latency).
	Done time.Duration `json:"done_ns"`
	// Tokens holds the arrival time of every chunk carrying tokens, of every kind, in order
	// (the first 65,536; Chunks counts them all). Their gaps are the inter-token latencies.
	Tokens []time.Duration `json:"token_ns,omitempty"`
	// Kinds says what each chunk of Tokens carried, run-length encoded: a letter, then how
	// many chunks in a row carried that kind ("r24a16": 24 chunks of reasoning, then 16 of
	// answer text). The letters are 'a' answer text, 'r' reasoning, 't' tool-call arguments,
	// 'f' a refusal. "" when every chunk carried answer text. KindAt reads it.
	Kinds string `json:"token_kinds,omitempty"`
	// ChunkTokens holds how many tokens each chunk of Tokens carried, when the server said so
	// (usage on every chunk) and some chunk carried more than one; nil otherwise.
	ChunkTokens []int32 `json:"chunk_tokens,omitempty"`

	// InputTokens, OutputTokens and CachedTokens are the server's usage report (0 if it sent
	// none, or one that was refused: see UsageError). OutputTokens counts every generated
	// token, reasoning included. Chunks counts token-carrying chunks received, of every
	// kind.
	InputTokens  int `json:"input_tokens"`
	OutputTokens int `json:"output_tokens"`
	CachedTokens int `json:"cached_tokens,omitempty"`
	Chunks       int `json:"chunks"`
	// ReasoningTokens is how many of OutputTokens the server said were reasoning
	// (completion_tokens_details.reasoning_tokens, SGLang's reasoning_tokens), when it said
	// (ReportsReasoning). StreamedReasoning counts the reasoning tokens received: one per
	// chunk of reasoning, or as many as the server said a chunk carried.
	ReasoningTokens   int  `json:"reasoning_tokens,omitempty"`
	ReportsReasoning  bool `json:"reports_reasoning,omitempty"`
	StreamedReasoning int  `json:"streamed_reasoning,omitempty"`
	// UsageError says why the server's usage was refused (counts that cannot be true, such
	// as 1e30 tokens or a negative cached count): the record holds none of it.
	UsageError string `json:"usage_error,omitempty"`
	// TimingsError says why the timings the server put on the stream were refused (times
	// or counts that cannot be true): Server holds none of them.
	TimingsError string `json:"timings_error,omitempty"`
	// Results counts the results of a pooling request (embeddings, scores); WantResults
	// how many it asked for.
	Results     int `json:"results,omitempty"`
	WantResults int `json:"want_results,omitempty"`
	// WantInput and WantOutput are the workload's intended lengths.
	WantInput  int `json:"want_input"`
	WantOutput int `json:"want_output"`
	// InputExtra is set when the prompt also holds what the workload could not count in
	// tokens (tool definitions, images, a schema): WantInput is then a least length.
	InputExtra bool `json:"input_extra,omitempty"`

	Outcome Outcome `json:"outcome"`
	Status  int     `json:"status,omitempty"`
	Error   string  `json:"error,omitempty"`
	// Retries counts resends of the request on a fresh connection after a kept-alive one
	// was found closed before the request reached the server: not failures.
	Retries int `json:"retries,omitempty"`

	// Client is the client's side of the request (net/http/httptrace), nil where it was not
	// traced; Server is the server's own account of it (an OTLP span it exported, the
	// timings it put on its last chunk, its per-request perf metrics), joined to the record,
	// nil where the target told nothing. Attribution reads both.
	Client *ClientPhases `json:"client,omitempty"`
	Server *ServerPhases `json:"server,omitempty"`
	// TraceID is the trace id of the W3C traceparent the request was sent with (32 hex
	// digits): an engine that traces requests continues it, and the server's span is
	// joined to the record by it. ResponseID is the id the server gave the request in its
	// stream ("chatcmpl-42"), by which per-request figures a server serves apart from the
	// stream are joined.
	TraceID    string `json:"trace_id,omitempty"`
	ResponseID string `json:"response_id,omitempty"`

	// run is the kind of the chunks of Tokens not yet in Kinds, and runLen how many.
	run    byte
	runLen int
}

// TTFT is the time to first token of any kind, from the scheduled send time.
func (r *Record) TTFT() time.Duration { return r.FirstToken }

// TTFO is the time to first output token (the first that is not reasoning), from the
// scheduled send time; ok is false when the request streamed none.
func (r *Record) TTFO() (d time.Duration, ok bool) { return r.FirstOutput, r.FirstOutput > 0 }

// Reasoning is the request's number of reasoning tokens: the server's count when it
// reported one the stream makes possible (no fewer than the reasoning chunks, no more than
// all the tokens), else the number of reasoning tokens streamed.
func (r *Record) Reasoning() int {
	if r.reasoningAgrees() {
		return r.ReasoningTokens
	}
	return r.StreamedReasoning
}

func (r *Record) reasoningAgrees() bool {
	return r.ReportsReasoning && r.ReasoningTokens >= r.StreamedReasoning && r.ReasoningTokens <= r.Generated()
}

// streamed is the number of tokens the stream carried: one per chunk, or as many as the
// server said a chunk carried (ChunkTokens).
func (r *Record) streamed() int {
	if r.ChunkTokens == nil {
		return r.Chunks
	}
	n := r.Chunks - len(r.ChunkTokens)
	for _, c := range r.ChunkTokens {
		n += int(c)
	}
	return n
}

// tokenMismatch reports whether the stream disagrees with the server's usage: the tokens
// of every kind against completion_tokens (which counts reasoning), the reasoning tokens
// against reasoning_tokens.
func (r *Record) tokenMismatch() bool {
	return r.OutputTokens > 0 && r.streamed() != r.OutputTokens || r.ReportsReasoning && r.ReasoningTokens != r.StreamedReasoning
}

// Letters of the kinds of chunks in Record.Kinds.
const (
	kindAnswer    = 'a'
	kindReasoning = 'r'
	kindTool      = 't'
	kindRefusal   = 'f'
)

// kindLetters are the letters of sse's token kinds.
var kindLetters = [...]byte{sse.Answer: kindAnswer, sse.Reasoning: kindReasoning, sse.ToolCall: kindTool, sse.Refusal: kindRefusal}

// noteKind records the kind of the chunk just added to Tokens. A string is built only when
// the kind changes, never per token.
func (r *Record) noteKind(k byte) {
	if k != r.run {
		r.flushKind()
		r.run = k
	}
	r.runLen++
}

// flushKind moves the run of kinds being counted into Kinds.
func (r *Record) flushKind() {
	if r.runLen > 0 {
		r.Kinds += string(r.run) + strconv.Itoa(r.runLen)
	}
	r.run, r.runLen = 0, 0
}

// closeKinds ends Kinds at the end of the request: "" when every chunk was answer text
// (nothing is built then).
func (r *Record) closeKinds() {
	if r.Kinds == "" && r.run == kindAnswer {
		r.run, r.runLen = 0, 0
		return
	}
	r.flushKind()
}

// KindAt is the kind of the i-th chunk of Tokens: 'a' answer text, 'r' reasoning, 't'
// tool-call arguments, 'f' a refusal (see Kinds); 0 for an i out of range.
func (r *Record) KindAt(i int) byte {
	if i < 0 || i >= len(r.Tokens) {
		return 0
	}
	if r.Kinds == "" {
		return kindAnswer
	}
	for s := r.Kinds; s != ""; {
		k := s[0]
		j := 1
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		n, err := strconv.Atoi(s[1:j])
		if err != nil {
			return 0
		}
		if i < n {
			return k
		}
		i, s = i-n, s[j:]
	}
	return 0
}

// E2E is the end-to-end latency, from the scheduled send time.
func (r *Record) E2E() time.Duration { return r.Done }

// Generated is the number of output tokens: the server's count when it reported one that
// the stream makes possible (at least one token per text chunk, and no more than were asked
// for when there were more chunks), else the number of text chunks received. A server's
// claim never produces an impossible rate.
func (r *Record) Generated() int {
	if r.usageAgrees() {
		return r.OutputTokens
	}
	return r.Chunks
}

// usageAgrees reports whether the server's output count is possible for the stream: no
// fewer tokens than text chunks, and no more than requested (or than the chunks, when
// more chunks than requested came).
func (r *Record) usageAgrees() bool {
	return r.OutputTokens > 0 && r.OutputTokens >= r.Chunks && (r.WantOutput <= 0 || r.OutputTokens <= max(r.WantOutput, r.Chunks))
}

// TPOT is the mean time per output token after the first: (e2e - TTFT) / (tokens - 1).
func (r *Record) TPOT() (time.Duration, bool) {
	n := r.Generated()
	if n < 2 || r.FirstToken == 0 {
		return 0, false
	}
	return (r.Done - r.FirstToken) / time.Duration(n-1), true
}

// ITLs calls fn with every inter-token latency of the request, in order: the gap between
// two text chunks, divided evenly among the tokens of a chunk that carried several when
// the server said how many (ChunkTokens), as SGLang's benchmark attributes them.
func (r *Record) ITLs(fn func(time.Duration)) {
	for i := 1; i < len(r.Tokens); i++ {
		gap := r.Tokens[i] - r.Tokens[i-1]
		n := 1
		if r.ChunkTokens != nil && i < len(r.ChunkTokens) {
			n = max(int(r.ChunkTokens[i]), 1)
		}
		for range n {
			fn(gap / time.Duration(n))
		}
	}
}

// MaxITL is the largest inter-token latency (see ITLs).
func (r *Record) MaxITL() time.Duration {
	var m time.Duration
	r.ITLs(func(d time.Duration) { m = max(m, d) })
	return m
}

// coalesced reports whether chunks carried several tokens that the server did not count
// per chunk: its inter-token latencies are then per chunk.
func (r *Record) coalesced() bool {
	return r.ChunkTokens == nil && r.usageAgrees() && r.OutputTokens > r.Chunks
}

// short reports whether a successful request generated fewer tokens than it asked for (a
// pooling request generates nothing, and asks for nothing).
func (r *Record) short() bool {
	return r.Outcome == OK && r.WantResults == 0 && r.WantOutput > 0 && r.Generated() < r.WantOutput
}

// inputOff reports whether the server counted a prompt length far from the intended one
// (below it, when the prompt holds uncounted parts: InputExtra):
// more than 32 tokens and 10% apart (a chat template adds a few dozen tokens at most).
func (r *Record) inputOff() bool {
	if r.Outcome != OK || r.InputTokens <= 0 || r.WantInput <= 0 {
		return false
	}
	d := r.InputTokens - r.WantInput
	if r.InputExtra {
		d = min(d, 0) // more than intended is the uncounted part
	}
	return max(d, -d) > max(32, r.WantInput/10)
}

// ClientPhases is when a request's connection and bytes moved, as the client saw them: offsets
// from Record.Scheduled, as every time of a Record.
type ClientPhases struct {
	// Reused is set when the request went out on a kept-alive connection; Connected is
	// then 0, else when the new connection was up (TCP and TLS).
	Reused    bool          `json:"reused,omitempty"`
	Connected time.Duration `json:"connected_ns,omitempty"`
	// Wrote is when the whole request had been written; FirstByte when the first byte of
	// the answer arrived.
	Wrote     time.Duration `json:"wrote_ns,omitempty"`
	FirstByte time.Duration `json:"first_byte_ns,omitempty"`
}

// ServerPhases is a request's life as the server measured it, on its own clock: durations,
// not offsets, since the two clocks share no origin. A zero duration is one the source did
// not give.
type ServerPhases struct {
	// Source names where it came from: "otlp" (a span the server exported, joined by trace
	// id), "timings" (fields on the stream, such as llama.cpp's), "perf-metrics"
	// (TensorRT-LLM's per-request metrics).
	Source string `json:"source"`
	// Queue is the time from arrival to scheduling, Prefill from scheduling to the first
	// token, Decode from the first token to the last, E2E from arrival to the last token;
	// TTFT from arrival to the first token.
	Queue   time.Duration `json:"queue_ns,omitempty"`
	Prefill time.Duration `json:"prefill_ns,omitempty"`
	Decode  time.Duration `json:"decode_ns,omitempty"`
	E2E     time.Duration `json:"e2e_ns,omitempty"`
	TTFT    time.Duration `json:"ttft_ns,omitempty"`
	// PromptTokens, CachedTokens and OutputTokens are the server's counts where the source
	// gave them (CachedTokens: prompt tokens found in its prefix cache).
	PromptTokens int `json:"prompt_tokens,omitempty"`
	CachedTokens int `json:"cached_tokens,omitempty"`
	OutputTokens int `json:"output_tokens,omitempty"`
	// Wall is set when the source gave the server's wall-clock time of the request (an
	// OTLP span's start): Transit is then the time from the server's first token to its
	// arrival at the client (Record.FirstToken), on the two wall clocks. It means
	// something only where the clocks agree (the same host, or hosts kept in step by
	// NTP); the runner says so when transits come out negative.
	Wall    bool          `json:"wall,omitempty"`
	Transit time.Duration `json:"transit_ns,omitempty"`
}

// Sources of ServerPhases.
const (
	sourceOTLP        = "otlp"
	sourceTimings     = "timings"
	sourcePerfMetrics = "perf-metrics"
)

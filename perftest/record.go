package perftest

import "time"

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
	// FirstToken is when the first chunk carrying text arrived (TTFT).
	FirstToken time.Duration `json:"first_token_ns,omitempty"`
	// Done is when the stream ended (end-to-end latency).
	Done time.Duration `json:"done_ns"`
	// Tokens holds the arrival time of every chunk carrying text, in order (the first 65,536;
	// Chunks counts them all). Their gaps are the inter-token latencies.
	Tokens []time.Duration `json:"token_ns,omitempty"`
	// ChunkTokens holds how many tokens each chunk of Tokens carried, when the server said so
	// (usage on every chunk) and some chunk carried more than one; nil otherwise.
	ChunkTokens []int32 `json:"chunk_tokens,omitempty"`

	// InputTokens, OutputTokens and CachedTokens are the server's usage report (0 if it sent
	// none). Chunks counts text-carrying chunks received.
	InputTokens  int `json:"input_tokens"`
	OutputTokens int `json:"output_tokens"`
	CachedTokens int `json:"cached_tokens,omitempty"`
	Chunks       int `json:"chunks"`
	// WantInput and WantOutput are the workload's intended lengths.
	WantInput  int `json:"want_input"`
	WantOutput int `json:"want_output"`

	Outcome Outcome `json:"outcome"`
	Status  int     `json:"status,omitempty"`
	Error   string  `json:"error,omitempty"`
	// Retries counts resends of the request on a fresh connection after a kept-alive one
	// was found closed before the request reached the server: not failures.
	Retries int `json:"retries,omitempty"`
}

// TTFT is the time to first token, from the scheduled send time.
func (r *Record) TTFT() time.Duration { return r.FirstToken }

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

// short reports whether a successful request generated fewer tokens than it asked for.
func (r *Record) short() bool {
	return r.Outcome == OK && r.WantOutput > 0 && r.Generated() < r.WantOutput
}

// inputOff reports whether the server counted a prompt length far from the intended one:
// more than 32 tokens and 10% apart (a chat template adds a few dozen tokens at most).
func (r *Record) inputOff() bool {
	if r.Outcome != OK || r.InputTokens <= 0 || r.WantInput <= 0 {
		return false
	}
	d := r.InputTokens - r.WantInput
	return max(d, -d) > max(32, r.WantInput/10)
}

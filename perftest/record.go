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
	// Tokens holds the arrival time of every chunk carrying text, in order. Their gaps are
	// the inter-token latencies.
	Tokens []time.Duration `json:"token_ns,omitempty"`

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
}

// TTFT is the time to first token, from the scheduled send time.
func (r *Record) TTFT() time.Duration { return r.FirstToken }

// E2E is the end-to-end latency, from the scheduled send time.
func (r *Record) E2E() time.Duration { return r.Done }

// Generated is the number of output tokens: the server's count when it reported usage,
// else the number of text chunks received.
func (r *Record) Generated() int {
	if r.OutputTokens > 0 {
		return r.OutputTokens
	}
	return r.Chunks
}

// TPOT is the mean time per output token after the first: (e2e - TTFT) / (tokens - 1).
func (r *Record) TPOT() (time.Duration, bool) {
	n := r.Generated()
	if n < 2 || r.FirstToken == 0 {
		return 0, false
	}
	return (r.Done - r.FirstToken) / time.Duration(n-1), true
}

// MaxITL is the largest gap between two consecutive text chunks.
func (r *Record) MaxITL() time.Duration {
	var m time.Duration
	for i := 1; i < len(r.Tokens); i++ {
		m = max(m, r.Tokens[i]-r.Tokens[i-1])
	}
	return m
}

package perftest

import (
	"cmp"
	"errors"
	"fmt"
	"github.com/perfgate/perfgate/perftest/gate"
	"time"

	"github.com/perfgate/perfgate/fixtures"
	"github.com/perfgate/perfgate/perftest/internal/api"
)

// Case describes one performance test: what to send, to which server, how hard.
type Case struct {
	// Name names the case in result files and benchmark lines; "" uses the test's name.
	// It may hold no white space, control or formatting characters and none of
	// \ * ? " < > | % (NewSession refuses them); '/' separates sub-benchmarks and, like
	// ':', becomes '_' in file names.
	Name string
	// Target is the server under test. In Run, the -perf.endpoint flag replaces it.
	Target Target
	// Model is the model name sent with each request; "" asks the target (its Describe
	// "model" key, else the first entry of /v1/models).
	Model string
	// API is the endpoint requests go to (default Completions).
	API API
	// Workload produces the requests. Every repetition replays it from the start.
	Workload fixtures.Workload
	// Load says how requests are paced.
	Load Load
	// Count is the number of repetitions (0: the -perf.count flag in Run, 10 elsewhere).
	// The gate's rank test cannot reach significance below 4 repetitions a side.
	Count int
	// MaxCount is the most repetitions a comparison may take (Result.Gate, AB, RunAB): while
	// it is undecided after Count (a change beyond its threshold but not yet significant),
	// more run in batches of Count/2, each batch a look of a group-sequential design that
	// keeps the false-alarm rate at alpha (see gate.Sequential). At most Count: exactly
	// Count. 0: in the go test entry points -perf.max-count, which is 3 x Count by default;
	// in RunAB, exactly Count. Against a baseline (Run and Result.Gate) the first look
	// comes earlier, at -perf.min-count (5), where an unchanged case stops when every
	// metric's confidence bound lies within its threshold (the no-change boundary); a
	// comparison not settled there runs on to Count and is judged as before.
	MaxCount int
	// Warmup is the number of requests sent before the first repetition and left out of the
	// results (0: one per concurrent stream; negative: none). They open connections and warm
	// the server.
	Warmup int
	// SLO, when set, adds a goodput metric: requests per second meeting every objective.
	SLO SLO
	// Timeout bounds one request (0: 5 minutes), and the calls around the workload (model
	// list, cache reset, metrics) when shorter than their 30 seconds. StallTimeout bounds
	// the gap between two streamed events (0: 60 seconds).
	Timeout, StallTimeout time.Duration
	// MaxScheduleLag is the largest p99 schedule lag (send time minus due time) an open-loop
	// or trace-time repetition may show before it counts as measured on a busy machine (0:
	// -perf.max-schedule-lag, else 10 ms): not a failure, but machine evidence that makes
	// the latencies it touches INCONCLUSIVE where they regress, and a repetition
	// -perf.update measures again.
	MaxScheduleLag time.Duration
	// MaxErrorRate is the fraction of failed requests in a repetition above which the case
	// fails (0: 0.01; negative: never). Failed requests are always counted and reported.
	MaxErrorRate float64
	// AllowShortOutputs accepts outputs shorter than requested: the workload lets the model
	// stop at its end-of-sequence token. Otherwise a repetition in which more than 1% of the
	// requests generated fewer tokens than asked for fails the case as untrustworthy.
	AllowShortOutputs bool
	// Extra holds additional request-body fields, such as sampling options. They are
	// merged last, over perftest's defaults and the fields the target's engine asks for
	// (Dialect); a nil value removes a field (e.g. "ignore_eos" for a server that
	// rejects it). A target that knows which fields its server refuses (Dialect)
	// fails the case in Validate when the final body holds one.
	Extra map[string]any
}

// API selects the OpenAI-compatible endpoint.
type API int

const (
	// Completions is /v1/completions: prompts as token ids or text, exact input length.
	Completions API = iota
	// Chat is /v1/chat/completions: the server applies a chat template. Requests carry
	// images, tools, tool calls and results, a schema and reasoning (fixtures.Request).
	Chat
	// Responses is /v1/responses, OpenAI's Responses API: what Chat carries, streamed as
	// typed events. It has no exact output length (no min_tokens, no ignore_eos): against a
	// real model, set AllowShortOutputs.
	Responses
	// Embeddings is /v1/embeddings: each request a batch of inputs (fixtures.Request.Inputs),
	// answered at once; measured by latency (e2e-*), inputs/s and prompt-tok/s.
	Embeddings
	// Rerank is /v1/rerank: documents scored against a query (fixtures.Request.Query,
	// Documents), answered at once; measured as Embeddings is.
	Rerank
)

// apis are the request layer's APIs, by API.
var apis = [...]*api.API{Completions: api.Completions, Chat: api.Chat, Responses: api.Responses, Embeddings: api.Embeddings, Rerank: api.Rerank}

// spec is the request layer's description of the API.
func (a API) spec() *api.API {
	if a >= 0 && int(a) < len(apis) {
		return apis[a]
	}
	return api.Completions
}

// known reports whether a is one of the APIs perftest speaks.
func (a API) known() bool { return a >= 0 && int(a) < len(apis) }

// SLO holds per-request service-level objectives. A zero field is not checked.
type SLO struct {
	TTFT time.Duration // time to first token
	TPOT time.Duration // time per output token after the first
	ITL  time.Duration // largest gap between two tokens
	E2E  time.Duration // end-to-end latency
}

func (s SLO) set() bool { return s != SLO{} }

// defaultCount is the number of repetitions when neither Case.Count nor -perf.count says.
const defaultCount = 10

// count is the number of repetitions the case asks for.
func (c Case) count() int { return max(cmp.Or(c.Count, defaultCount), 1) }

// defaultMinCount is the first look of a comparison against a baseline (-perf.min-count):
// with a baseline of 30 repetitions at 3% noise, 5 current ones bound an unchanged
// metric's change within its 5% threshold (see gate.Sequential.Unsettled).
const defaultMinCount = 5

// gateLooks are the looks of a comparison against a baseline (Result.Gate): looks(), led by
// an early look at minCount repetitions when that is at least 2 and at most two thirds of
// Count (an early look one or two repetitions short of Count saves little); least is then
// Count, the first look at which the comparison may stop other than at the no-change
// boundary or on a regression (0 without an early look).
func (c Case) gateLooks(minCount int) (looks []int, least int) {
	looks = c.looks()
	if looks == nil || minCount < 2 || 3*minCount > 2*looks[0] || len(looks) >= gate.MaxLooks {
		return looks, 0
	}
	return append([]int{minCount}, looks...), looks[0]
}

// looks are the repetition counts at which a comparison of the case is looked at: Count,
// then every Count/2 more up to MaxCount (spaced wider where that would make more than
// gate.MaxLooks looks); nil for a fixed count.
func (c Case) looks() []int {
	n, most := c.count(), min(c.MaxCount, gate.MaxLook)
	if most <= n {
		return nil
	}
	looks := []int{n}
	spread := (most - n + gate.MaxLooks - 2) / (gate.MaxLooks - 1)
	for step := max(1, n/2, spread); looks[len(looks)-1] < most; {
		looks = append(looks, min(most, looks[len(looks)-1]+step))
	}
	return looks
}

// warmup is the number of warm-up requests: one per concurrent stream by default, none
// when Warmup is negative.
func (c Case) warmup() int {
	switch {
	case c.Warmup < 0:
		return 0
	case c.Warmup == 0:
		return max(c.Load.Concurrency, 1)
	}
	return c.Warmup
}

// controlTimeout bounds the calls around the workload (listing models, resetting the
// cache, scraping metrics): 30 seconds, or Case.Timeout when that is shorter.
func (c Case) controlTimeout() time.Duration {
	if c.Timeout > 0 && c.Timeout < 30*time.Second {
		return c.Timeout
	}
	return 30 * time.Second
}

// maxErrorRate is the error rate above which a repetition fails the case; negative: never.
func (c Case) maxErrorRate() float64 { return cmp.Or(c.MaxErrorRate, 0.01) }

// maxScheduleLag is the largest acceptable p99 schedule lag of an open loop.
func (c Case) maxScheduleLag() time.Duration { return cmp.Or(c.MaxScheduleLag, 10*time.Millisecond) }

// Validate reports every problem with the case at once, each saying what to set.
func (c Case) Validate() error {
	var errs []error
	if c.Target == nil {
		errs = append(errs, errors.New("Target is nil (set Target: mock.Start(t, mock.Config{}), a backend, or perftest.Endpoint(url); or run with -perf.endpoint URL)"))
	}
	if c.Workload == nil {
		errs = append(errs, errors.New("Workload is nil (set Workload: fixtures.Synthetic{ISL: 512, OSL: 128, Prompts: 100})"))
	}
	if err := c.Load.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Count < 0 || c.MaxCount < 0 {
		errs = append(errs, fmt.Errorf("Count and MaxCount must be >= 0, got %d and %d", c.Count, c.MaxCount))
	}
	if c.Timeout < 0 || c.StallTimeout < 0 {
		errs = append(errs, errors.New("Timeout and StallTimeout must be >= 0"))
	}
	if !c.API.known() {
		errs = append(errs, fmt.Errorf("API %d is unknown (use perftest.Completions, Chat, Responses, Embeddings or Rerank)", c.API))
	} else if err := c.checkRequest(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

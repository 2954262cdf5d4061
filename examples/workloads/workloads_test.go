// Package workloads holds a perf case for each kind of request serving teams send beyond
// "a prompt in, text out": reasoning, tool calls, tool-calling agent sessions, structured
// output, images, embeddings, rerank, the Responses API and speculative decoding. Each
// starts the built-in simulator with the feature on (backends/mock), replays a small
// workload of the matching fixture, and gates the result on its committed baseline in
// baselines/cpu/:
//
//	go test -run Perf -v ./examples/workloads
//	go test -run PerfReasoning -v ./examples/workloads
//
// Re-record the baselines after an intended change (on a machine as quiet as you can get):
//
//	go test -run Perf ./examples/workloads -perf.update
//
// gate_test.go checks that the gate catches what each case is for: reasoning 20% slower
// per token, and speculative acceptance falling from 0.7 to 0.5.
package workloads

import (
	"testing"
	"time"

	"github.com/perfgate/perfgate/backends/mock"
	"github.com/perfgate/perfgate/fixtures"
	"github.com/perfgate/perfgate/perftest"
)

// A workload case: the simulator's config and the case it serves. The gate tests run the
// same case against a changed simulator, so that the two cannot drift apart.
type workloadCase struct {
	engine mock.Config
	c      perftest.Case
}

// cases are the perf cases of this package, by name. Each repetition takes about a second
// on the simulator at speedup 2.
var cases = map[string]workloadCase{
	// A reasoning model (vLLM's --reasoning-parser qwen3) spending 80% of every answer
	// thinking, streamed in delta.reasoning: TTFT is the first reasoning token, TTFO the
	// first answer token, and ITL and TPOT run over both.
	"PerfReasoning": {
		engine: mock.Config{SpeedupRatio: 2, Reasoning: mock.Reasoning{Parser: "qwen3", Fraction: 0.8}},
		c: perftest.Case{API: perftest.Chat, Load: perftest.Concurrency(8),
			Workload: fixtures.Reasoning{ISL: 256, OSL: 64, Prompts: 32, Effort: "on", Seed: 1}},
	},
	// Tool calling: every request offers the same 8 tools of 4 parameters and requires a
	// call (tool_choice required): the answer is a call's arguments, streamed in
	// delta.tool_calls. The call's first delta (its id and name, no arguments) carries no
	// token to the client (perftest/internal/sse), while usage counts the tokens that
	// generated the name (one on the simulator, several on vLLM): every request warns of a
	// token-count mismatch and ITL is per chunk, as the baseline's "itl: per-chunk" says,
	// here and in PerfAgent. Should the client count that delta, both baselines need
	// re-recording (their config line changes).
	"PerfTools": {
		engine: mock.Config{SpeedupRatio: 2},
		c: perftest.Case{API: perftest.Chat, Load: perftest.Concurrency(8),
			Workload: fixtures.Tools{Functions: 8, Props: 4, Choice: "required", ISL: 128, OSL: 32, Prompts: 32, Seed: 1}},
	},
	// Agent sessions: every turn a tool call (tool_choice required) out of 8 tools, the
	// call and the tool's result appended before the next turn, 20 ms of tool time between.
	"PerfAgent": {
		engine: mock.Config{SpeedupRatio: 2, Tools: mock.Tools{AutoToolChoice: true, Parser: "hermes"}},
		c: perftest.Case{API: perftest.Chat, Load: perftest.Concurrency(8),
			Workload: fixtures.Agent{
				MultiTurn: fixtures.MultiTurn{Sessions: 8, Turns: 4, ISL: 128, OSL: 32, Think: 20 * time.Millisecond, Seed: 1},
				Functions: 8, Props: 4, Choice: "required"}},
	},
	// Structured output: answers under 4 distinct JSON schemas two objects deep, the grammar
	// costing 0.2 ms a token and 5 ms to compile a new schema.
	"PerfStructured": {
		engine: mock.Config{SpeedupRatio: 2, StructuredOutput: mock.StructuredOutput{TokenMS: 0.2, CompileMS: 5}},
		c: perftest.Case{API: perftest.Chat, Load: perftest.Concurrency(8), AllowShortOutputs: true,
			Workload: fixtures.Structured{Depth: 2, Props: 4, Enums: 3, Schemas: 4, ISL: 128, OSL: 48, Prompts: 32, Seed: 1}},
	},
	// Images: one 128x128 PNG a request out of 8 distinct ones, so that the encoder cache
	// hits from the ninth request on; image tokens are charged to prefill.
	"PerfImages": {
		engine: mock.Config{SpeedupRatio: 2, Multimodal: mock.Multimodal{LimitPerPrompt: map[string]int{"image": 2}}},
		c: perftest.Case{API: perftest.Chat, Load: perftest.Concurrency(8),
			Workload: fixtures.Images{Count: 1, Width: 128, Height: 128, Distinct: 8, ISL: 64, OSL: 32, Prompts: 32, Seed: 1}},
	},
	// Embeddings (--runner pooling): batches of 16 texts of 128 tokens, measured by
	// latency, inputs/s and prompt-tok/s.
	"PerfEmbeddings": {
		engine: mock.Config{SpeedupRatio: 2, Runner: mock.RunnerPooling},
		c: perftest.Case{API: perftest.Embeddings, Load: perftest.Concurrency(4),
			Workload: fixtures.Embeddings{Batch: 16, ISL: 128, Prompts: 48, Seed: 1}},
	},
	// Rerank: 8 documents of 128 tokens scored against a query of 16.
	"PerfRerank": {
		engine: mock.Config{SpeedupRatio: 2, Runner: mock.RunnerPooling},
		c: perftest.Case{API: perftest.Rerank, Load: perftest.Concurrency(4),
			Workload: fixtures.Rerank{QueryLen: 16, Documents: 8, DocLen: 128, Prompts: 48, Seed: 1}},
	},
	// The Responses API: a reasoning model's answer streamed as
	// response.reasoning_text.delta and response.output_text.delta events, usage on
	// response.completed.
	"PerfResponses": {
		engine: mock.Config{SpeedupRatio: 2, Reasoning: mock.Reasoning{Parser: "qwen3"}},
		c: perftest.Case{API: perftest.Responses, Load: perftest.Concurrency(8),
			Workload: fixtures.Reasoning{ISL: 256, OSL: 64, Prompts: 32, Effort: "on", Seed: 1}},
	},
	// Speculative decoding (eagle3, 3 draft tokens, acceptance 0.7): several tokens a
	// chunk, and the server's acceptance rate and accepted tokens per draft, gated (lower
	// is worse).
	"PerfSpeculative": {
		engine: mock.Config{SpeedupRatio: 2, Speculative: mock.Speculative{Method: "eagle3", NumSpeculativeTokens: 3, AcceptanceRate: 0.7}},
		c: perftest.Case{Load: perftest.Concurrency(8),
			Workload: fixtures.Synthetic{ISL: 256, OSL: 96, Prompts: 32, Seed: 1}},
	},
}

// baseline is the committed baseline of the named case. The simulator runs on the CPU
// whatever the machine has, so every machine gates on the cpu class's baselines, as
// examples/quickstart does.
func baseline(name string) string { return "../../baselines/cpu/" + name + ".txt" }

// perfCase runs the named case on its own simulator and gates it on its baseline.
func perfCase(t *testing.T, name string) {
	c := cases[name].c
	c.Name = name
	if perftest.RaceEnabled {
		// The gate compares no timings taken under the race detector (another setup than
		// the baseline's): two repetitions look for races, ten took 86 s here.
		c.Count, c.MaxCount = 2, 2
	}
	c.Target = mock.Start(t, cases[name].engine)
	perftest.Run(t, c).Gate(t, baseline(name))
}

func TestPerfReasoning(t *testing.T)   { perfCase(t, "PerfReasoning") }
func TestPerfTools(t *testing.T)       { perfCase(t, "PerfTools") }
func TestPerfAgent(t *testing.T)       { perfCase(t, "PerfAgent") }
func TestPerfStructured(t *testing.T)  { perfCase(t, "PerfStructured") }
func TestPerfImages(t *testing.T)      { perfCase(t, "PerfImages") }
func TestPerfEmbeddings(t *testing.T)  { perfCase(t, "PerfEmbeddings") }
func TestPerfRerank(t *testing.T)      { perfCase(t, "PerfRerank") }
func TestPerfResponses(t *testing.T)   { perfCase(t, "PerfResponses") }
func TestPerfSpeculative(t *testing.T) { perfCase(t, "PerfSpeculative") }

package main

import (
	"bytes"
	"flag"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/perfgate/perfgate/backends/mock"
	"github.com/perfgate/perfgate/fixtures"
	"github.com/perfgate/perfgate/internal/golden"
	"github.com/perfgate/perfgate/perftest/resultfile"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRunCommand(t *testing.T) {
	srv := mock.Start(t, mock.Config{SpeedupRatio: 20})
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"run", "--endpoint", srv.BaseURL(), "--isl", "64", "--osl", "8", "--requests", "12",
		"--concurrency", "4", "--count", "3", "--out", out, "--name", "Local"}, &stdout, &stderr)
	require.Equal(t, 0, code, "stderr: %s", stderr.String())
	assert.Contains(t, stdout.String(), "ttft-p50-sec")
	assert.NotContains(t, stdout.String(), "part-ttft", "the parts of the latencies are in the file, not the summary")
	assert.Regexp(t, `\(and \d+ part-\* figures`, stdout.String())
	assert.Contains(t, stdout.String(), "results: "+filepath.Join(out, "Local.txt"))
	rf, err := resultfile.Read(filepath.Join(out, "Local.txt"))
	require.NoError(t, err)
	assert.Len(t, rf.Values("itl-p50-sec"), 3)
	_, err = os.Stat(filepath.Join(out, "Local.records.jsonl"))
	assert.NoError(t, err)
	assert.NotContains(t, stderr.String(), "\r", "plain progress lines when not on a terminal")
}

func TestRunCommandOpenLoop(t *testing.T) {
	srv := mock.Start(t, mock.Config{SpeedupRatio: 20})
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"run", "--endpoint", srv.BaseURL(), "--isl", "32", "--osl", "4", "--requests", "20",
		"--rate", "100", "--arrival", "poisson", "--count", "2", "--out", t.TempDir(),
		"--max-schedule-lag", "1s"}, &stdout, &stderr)
	require.Equal(t, 0, code, "stderr: %s", stderr.String())
	assert.Contains(t, stdout.String(), "req/s requested")
}

func TestRunCommandBadInput(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run"}, "--endpoint is required"},
		{[]string{"run", "--endpoint", "http://127.0.0.1:1", "--arrival", "bursty", "--rate", "1"}, `--arrival "bursty"`},
		{[]string{"run", "--endpoint", "http://127.0.0.1:1", "--concurrency", "2", "--rate", "3"}, "more than one of"},
		{[]string{"run", "--endpoint", "http://127.0.0.1:1", "--trace", filepath.Join(t.TempDir(), "missing.jsonl")}, "missing.jsonl"},
		{[]string{"run", "--endpoint", "http://127.0.0.1:1", "--count", "1"}, "list models at http://127.0.0.1:1"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(t.Context(), tc.args, &stdout, &stderr)
		assert.Equal(t, 2, code, strings.Join(tc.args, " "))
		assert.Contains(t, stderr.String(), tc.want, strings.Join(tc.args, " "))
	}
}

func TestRunCommandEngineWorkloadsAndFields(t *testing.T) {
	srv := mock.Start(t, mock.Config{SpeedupRatio: 20})
	out := t.TempDir()
	code, stdout, errs := runCmd(t, "run", "--endpoint", srv.BaseURL(), "--engine", "mock", "--workload", "shared-prefix",
		"--isl", "256", "--osl", "4", "--requests", "8", "--prefix-ratio", "0.5", "--num-prefixes", "2", "--concurrency", "2",
		"--count", "2", "--extra", `{"top_k":1}`, "--out", out, "--name", "Shared")
	require.Equal(t, 0, code, "stderr: %s", errs)
	assert.Contains(t, stdout, "Shared: 2 repetitions, 16 requests: ok=16", "outcome totals printed")
	rf, err := resultfile.Read(filepath.Join(out, "Shared.txt"))
	require.NoError(t, err)
	assert.Equal(t, "yes", rf.ConfigValue("cache-reset"), "--engine mock resets the simulator's cache")
	assert.Equal(t, "mock", rf.ConfigValue("backend"), "--engine mock records the simulator as mock.Start does")
	assert.Equal(t, "shared-prefix", rf.ConfigValue("workload"))
	assert.NotEqual(t, "unavailable", rf.ConfigValue("server-metrics"))
	assert.NotEmpty(t, rf.Values("server-prefix-hit-ratio"), "and reads its metrics")
	recs, err := os.ReadFile(filepath.Join(out, "Shared.records.jsonl"))
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(recs), `{"rep":1,`), "repetitions numbered from 1, as the messages say")

	code, _, errs = runCmd(t, "run", "--endpoint", srv.BaseURL(), "--workload", "multi-turn", "--sessions", "2", "--turns", "2",
		"--isl", "16", "--osl", "2", "--count", "1", "--out", t.TempDir())
	assert.Equal(t, 0, code, errs)
	assert.Contains(t, errs, "cache reset: the target cannot empty its prefix cache", "a plain endpoint says what it cannot do")

	for _, tc := range []struct{ args, want string }{
		{"--engine nope", `--engine "nope": want one of dynamo, llamacpp, mock, sglang, trtllm, vllm`},
		{"--workload zipf", `--workload "zipf"`},
		{"--extra [1]", `--extra "[1]": want a JSON object`},
		{"--model does-not-exist", `model "does-not-exist" is not served by`},
	} {
		args := append([]string{"run", "--endpoint", srv.BaseURL(), "--count", "1"}, strings.Fields(tc.args)...)
		code, _, errs := runCmd(t, args...)
		assert.Equal(t, 2, code, tc.args)
		assert.Contains(t, errs, tc.want, tc.args)
	}
}

func TestRunUsageGolden(t *testing.T) {
	code, out, _ := runCmd(t, "run", "-h")
	require.Equal(t, 0, code)
	golden.Check(t, "run-help", []byte(out))
}

// parseCase parses perfgate run's case flags from args.
func parseCase(t *testing.T, args ...string) *caseFlags {
	t.Helper()
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cf := addCaseFlags(fs, "PerfRun")
	require.NoError(t, fs.Parse(args))
	return cf
}

// TestRunWorkloadFlags checks the workload each --workload value and its flags build, and
// the API it is sent to when --api is not set.
func TestRunWorkloadFlags(t *testing.T) {
	mt := fixtures.MultiTurn{Sessions: 3, Turns: 5, ISL: 64, OSL: 16, Think: time.Second, Seed: 1}
	for _, tc := range []struct {
		args string
		want fixtures.Workload
		api  string
	}{
		{"", fixtures.Synthetic{ISL: 512, OSL: 128, Prompts: 100, Seed: 1}, "completions"},
		{"--workload multi-turn --sessions 3 --turns 5 --isl 64 --osl 16 --think 1s", mt, "completions"},
		{"--workload shared-prefix --api chat --osl-stddev 4 --osl 16",
			fixtures.SharedPrefix{ISL: 512, OSL: 16, OSLDist: fixtures.Normal(16, 4), PrefixRatio: 0.5, NumPrefixes: 4, Prompts: 100, Seed: 1}, "chat"},
		{"--workload reasoning --reasoning high --isl 32 --isl-stddev 8 --osl 1024 --requests 9",
			fixtures.Reasoning{ISL: 32, ISLDist: fixtures.Normal(32, 8), OSL: 1024, Prompts: 9, Effort: "high", Seed: 1}, "chat"},
		{"--workload tools --tools 3 --tool-schema-props 5 --tool-choice required --isl 64 --osl 16 --requests 7 --seed 4",
			fixtures.Tools{ISL: 64, OSL: 16, Prompts: 7, Functions: 3, Props: 5, Choice: "required", Seed: 4}, "chat"},
		{"--workload agent --sessions 3 --turns 5 --isl 64 --osl 16 --think 1s --tools 2 --tool-choice auto --vocab-size 50000",
			fixtures.Agent{MultiTurn: mt, Functions: 2, Props: 4, Choice: "auto"}, "chat"},
		{"--workload structured --schema-depth 3 --schema-props 5 --schema-enums 0 --schemas 4 --api responses",
			fixtures.Structured{ISL: 512, OSL: 128, Prompts: 100, Depth: 3, Props: 5, Schemas: 4, Seed: 1}, "responses"},
		{"--workload images --images 2 --image-size 640x480 --distinct-images 10 --isl 16",
			fixtures.Images{ISL: 16, OSL: 128, Prompts: 100, Count: 2, Width: 640, Height: 480, Distinct: 10, Seed: 1}, "chat"},
		{"--workload embeddings --batch 32 --isl 128 --requests 50",
			fixtures.Embeddings{Batch: 32, ISL: 128, Prompts: 50, Seed: 1}, "embeddings"},
		{"--workload rerank --documents 20 --query-len 16 --isl 200 --requests 10",
			fixtures.Rerank{QueryLen: 16, Documents: 20, DocLen: 200, Prompts: 10, Seed: 1}, "rerank"},
	} {
		cf := parseCase(t, strings.Fields(tc.args)...)
		wl, kind, err := cf.workloadOf(io.Discard)
		require.NoError(t, err, tc.args)
		assert.Empty(t, cmp.Diff(tc.want, wl), tc.args)
		api, err := cf.apiFor(kind)
		require.NoError(t, err, tc.args)
		assert.Equal(t, tc.api, api, tc.args)
	}
}

// TestRunWorkloadFlagErrors checks that a bad workload flag is refused before anything is
// sent, naming the flag and its value, every problem at once.
func TestRunWorkloadFlagErrors(t *testing.T) {
	for _, tc := range []struct{ args, want string }{
		{"--workload tools --tools 0", `--tools 0: tools: Functions must be in [1, 4096], got 0`},
		{"--workload agent --tool-choice maybe --turns 0",
			"--turns 0: agent: Turns must be in [1, 65536], got 0\n--tool-choice maybe: agent: Choice must be \"\", auto, required or none, got \"maybe\""},
		{"--workload reasoning --reasoning max --requests 0",
			"--requests 0: reasoning: Prompts must be > 0, got 0\n--reasoning max: reasoning: Effort must be \"\", off, on, low, medium or high, got \"max\""},
		{"--workload structured --schema-depth 99 --schema-props 0",
			"--schema-depth 99: structured: Depth must be in [0, 32], got 99\n--schema-props 0: structured: Props must be in [1, 1024], got 0"},
		{"--workload images --image-size 0x5", "--image-size 0x5: images: Width must be in [1, 16384], got 0"},
		{"--workload images --image-size big", `--image-size "big": want WIDTHxHEIGHT in pixels, e.g. 512x512`},
		{"--workload images --images 300", "--images 300: images: Count must be in [0, 256], got 300"},
		{"--workload embeddings --batch 0", "--batch 0: embeddings: Batch must be in [1, 65536], got 0"},
		{"--workload rerank --isl 0 --query-len 0",
			"--isl 0: rerank: DocLen must be > 0, got 0\n--query-len 0: rerank: QueryLen must be > 0, got 0"},
		{"--workload embeddings --api chat", `--api "chat": the embeddings workload is sent to embeddings`},
		{"--workload tools --api completions", `--api "completions": the tools workload is sent to chat or responses`},
		{"--workload zipf", `--workload "zipf": want synthetic, shared-prefix, multi-turn, reasoning, tools, agent, structured, images, embeddings or rerank`},
	} {
		args := append([]string{"run", "--endpoint", "http://127.0.0.1:1", "--count", "1"}, strings.Fields(tc.args)...)
		code, _, errs := runCmd(t, args...)
		assert.Equal(t, 2, code, tc.args)
		assert.Equal(t, "perfgate run: "+tc.want+"\n", errs, tc.args)
	}
}

// TestRunChatWorkloads runs two of the workloads that ask for more than text against the
// simulator: they go to the chat API without --api, agent sessions turn by turn.
func TestRunChatWorkloads(t *testing.T) {
	srv := mock.Start(t, mock.Config{SpeedupRatio: 20})
	for _, args := range []string{
		"--workload reasoning --reasoning low --isl 16 --osl 4 --requests 6",
		"--workload agent --sessions 2 --turns 3 --isl 16 --osl 4 --tools 3 --tool-choice none",
	} {
		out := t.TempDir()
		code, _, errs := runCmd(t, append([]string{"run", "--endpoint", srv.BaseURL(), "--concurrency", "2", "--count", "1",
			"--out", out, "--name", "Chat"}, strings.Fields(args)...)...)
		require.Equal(t, 0, code, "%s: %s", args, errs)
		rf, err := resultfile.Read(filepath.Join(out, "Chat.txt"))
		require.NoError(t, err)
		assert.Equal(t, "chat", rf.ConfigValue("api"), args)
		assert.Equal(t, strings.Fields(args)[1], rf.ConfigValue("workload"), args)
	}
}

// TestReadmeWorkloadExamples parses every `perfgate run --workload ...` example of the
// workloads page (docs/workloads.md): each must build a valid workload.
func TestReadmeWorkloadExamples(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "docs", "workloads.md"))
	require.NoError(t, err)
	examples := regexp.MustCompile("`perfgate run (--workload [^`]*)`").FindAllSubmatch(readme, -1)
	require.GreaterOrEqual(t, len(examples), 7, "one example a workload")
	for _, m := range examples {
		cf := parseCase(t, strings.Fields(string(m[1]))...)
		_, kind, err := cf.workloadOf(io.Discard)
		if assert.NoError(t, err, "%s", m[1]) {
			_, err = cf.apiFor(kind)
			assert.NoError(t, err, "%s", m[1])
		}
	}
}

package perftest

import (
	"flag"
	"os"
	"strconv"
	"time"
)

// Flags of the test binary: the only place perfgate reads flags or the environment below
// cmd/perfgate. Each has an environment fallback (PERFGATE_UPDATE, ...), because
// `go test ./... -perf.update` fails in packages that do not import perftest. They are read
// by the go test entry points (Run, Result.Gate, AB, Sweep, BaselinePath, OutDir) and passed
// down as plain values; Execute, RunAB and the subpackages read none.
var (
	flagUpdate    = flag.Bool("perf.update", envBool("PERFGATE_UPDATE"), "rewrite baselines with this run's results (env PERFGATE_UPDATE)")
	flagCount     = flag.Int("perf.count", envInt("PERFGATE_COUNT", defaultCount), "repetitions per perf case, the least a comparison takes (env PERFGATE_COUNT)")
	flagMinCount  = flag.Int("perf.min-count", envInt("PERFGATE_MIN_COUNT", defaultMinCount), "first look of a comparison against a baseline when -perf.max-count is above -perf.count: Run runs this many, and an unchanged case stops there when every metric's confidence bound lies within its threshold (the no-change boundary), else Result.Gate runs on to -perf.count as before; above two thirds of -perf.count: off (env PERFGATE_MIN_COUNT)")
	flagMaxCount  = flag.Int("perf.max-count", envInt("PERFGATE_MAX_COUNT", 0), "most repetitions per perf case while its comparison is undecided; 0: 3 x -perf.count; -perf.count or less: a fixed count (env PERFGATE_MAX_COUNT)")
	flagStrict    = flag.Bool("perf.strict", envBool("PERFGATE_STRICT"), "fail a case whose comparison is INCONCLUSIVE (a busier machine can explain its changes) instead of skipping it (env PERFGATE_STRICT)")
	flagOut       = flag.String("perf.out", os.Getenv("PERFGATE_OUT"), "folder for result files and per-request records (env PERFGATE_OUT)")
	flagEndpoint  = flag.String("perf.endpoint", os.Getenv("PERFGATE_ENDPOINT"), "send every perf case to this running OpenAI-compatible server (env PERFGATE_ENDPOINT)")
	flagEngine    = flag.String("perf.engine", os.Getenv("PERFGATE_ENGINE"), "the engine of -perf.endpoint's server (vllm, sglang, trtllm, dynamo, llamacpp, mock), so that its prefix cache is reset and its metrics read; its module must be imported by the test package (env PERFGATE_ENGINE)")
	flagAlpha     = flag.Float64("perf.alpha", envFloat("PERFGATE_ALPHA", 0.05), "significance level of the gate, after Holm correction across a case's metrics (env PERFGATE_ALPHA)")
	flagThreshold = flag.Float64("perf.threshold", envFloat("PERFGATE_THRESHOLD", 0), "smallest relative change the gate acts on, overriding each metric's default (env PERFGATE_THRESHOLD)")
	flagHardware  = flag.String("perf.hardware", os.Getenv("PERFGATE_HARDWARE"), "hardware class recorded with results and used by BaselinePath, instead of the one detected with nvidia-smi (env PERFGATE_HARDWARE)")
	flagHistory   = flag.String("perf.history", os.Getenv("PERFGATE_HISTORY"), "folder of history files: every gated run appends one line to FOLDER/<hardware class>/<case>.history.jsonl (env PERFGATE_HISTORY)")
	flagSummary   = flag.String("perf.summary", os.Getenv("PERFGATE_SUMMARY"), "append each gated case's report as markdown to this file, e.g. $GITHUB_STEP_SUMMARY (env PERFGATE_SUMMARY)")
	flagMaxLag    = flag.Duration("perf.max-schedule-lag", envDuration("PERFGATE_MAX_SCHEDULE_LAG", 0), "open loop: p99 schedule lag above which a repetition counts as measured on a busy machine, for cases that leave Case.MaxScheduleLag 0; 0: 10ms (env PERFGATE_MAX_SCHEDULE_LAG)")
	flagRequire   = flag.Bool("perf.require-baseline", envBool("PERFGATE_REQUIRE_BASELINE"), "fail, instead of skipping, a case whose baseline is for another setup than -perf.endpoint's server (env PERFGATE_REQUIRE_BASELINE)")
)

// OutDir is the -perf.out folder ("" when unset), for a test that writes more files beside
// the results, such as a plot of a sweep.
func OutDir() string { return *flagOut }

func envBool(k string) bool {
	b, _ := strconv.ParseBool(os.Getenv(k))
	return b
}

func envInt(k string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(k)); err == nil {
		return v
	}
	return def
}

func envDuration(k string, def time.Duration) time.Duration {
	if v, err := time.ParseDuration(os.Getenv(k)); err == nil {
		return v
	}
	return def
}

func envFloat(k string, def float64) float64 {
	if v, err := strconv.ParseFloat(os.Getenv(k), 64); err == nil {
		return v
	}
	return def
}

package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	// The engines --engine takes: each module registers its endpoint in perftest/engines.
	_ "github.com/perfgate/perfgate/backends/dynamo"
	_ "github.com/perfgate/perfgate/backends/llamacpp"
	_ "github.com/perfgate/perfgate/backends/mock"
	_ "github.com/perfgate/perfgate/backends/sglang"
	_ "github.com/perfgate/perfgate/backends/trtllm"
	_ "github.com/perfgate/perfgate/backends/vllm"
	"github.com/perfgate/perfgate/fixtures"
	"github.com/perfgate/perfgate/perftest"
	"github.com/perfgate/perfgate/perftest/engines"
)

// engineNames are the --engine values: the engine modules this command links (imported
// above), each registered in perftest/engines with its endpoint, which knows how to reset
// that engine's cache and what its metrics are called.
func engineNames() string { return strings.Join(engines.Names(), ", ") }

// caseFlags are the workload and load flags that perfgate run and perfgate ab share.
type caseFlags struct {
	fs                       *flag.FlagSet
	wl                       *workloadFlags
	model, api, name, engine *string
	tracePath, traceFmt      *string
	lenient                  *bool
	workload                 *string
	isl, osl, requests       *int
	islSD, oslSD             *float64
	prefixRatio              *float64
	numPrefixes, groupSize   *int
	sessions, turns          *int
	think                    *time.Duration
	vocab                    *int
	seed                     *uint64
	conc, maxFlight, limit   *int
	rate, burst, speedup     *float64
	arrival                  *string
	traceTime                *bool
	duration, timeout, stall *time.Duration
	count, warmup            *int
	extra                    *string
	allowShort               *bool
}

func addCaseFlags(fs *flag.FlagSet, name string) *caseFlags {
	return &caseFlags{
		fs:          fs,
		wl:          addWorkloadFlags(fs),
		model:       fs.String("model", "", "model name (default: the server's first from /v1/models; must be one it lists)"),
		api:         fs.String("api", "", "completions (token-id prompts), chat, responses, embeddings or rerank (default: the workload's own: completions; chat for reasoning, tools, agent, structured and images; embeddings, rerank for those)"),
		name:        fs.String("name", name, "case name used in the result files"),
		engine:      fs.String("engine", "", "the server's engine, so that perfgate resets its prefix cache and reads its metrics: "+engineNames()+" (default: none, a plain OpenAI-compatible endpoint)"),
		tracePath:   fs.String("trace", "", "trace file to replay (Mooncake, Azure, BurstGPT, ShareGPT)"),
		traceFmt:    fs.String("format-trace", "", "trace format (default: detected)"),
		lenient:     fs.Bool("lenient", false, "skip bad trace rows instead of failing"),
		workload:    fs.String("workload", "synthetic", "without --trace: "+workloadNames()),
		isl:         fs.Int("isl", 512, "mean input length in tokens (multi-turn, agent: new tokens per turn; embeddings: of each input; rerank: of each document)"),
		islSD:       fs.Float64("isl-stddev", 0, "input length standard deviation (0: fixed; not shared-prefix)"),
		osl:         fs.Int("osl", 128, "output length in tokens"),
		oslSD:       fs.Float64("osl-stddev", 0, "output length standard deviation (0: fixed)"),
		requests:    fs.Int("requests", 100, "requests per repetition (not multi-turn, agent)"),
		prefixRatio: fs.Float64("prefix-ratio", 0.5, "shared-prefix: share of each prompt taken by a shared prefix"),
		numPrefixes: fs.Int("num-prefixes", 4, "shared-prefix: number of distinct prefixes"),
		groupSize:   fs.Int("group-size", 0, "shared-prefix: give the prefixes out in groups of this many prompts"),
		sessions:    fs.Int("sessions", 16, "multi-turn, agent: conversations"),
		turns:       fs.Int("turns", 4, "multi-turn, agent: turns per conversation"),
		think:       fs.Duration("think", 0, "multi-turn, agent: pause between a turn's end and the next turn (agent: the tool's run time)"),
		vocab:       fs.Int("vocab-size", 0, "the model's vocabulary size: prompt token ids stay below it (default 32000)"),
		seed:        fs.Uint64("seed", 1, "seed of synthetic prompts and random arrivals"),
		conc:        fs.Int("concurrency", 0, "closed loop: requests in flight (default 8 when no other load is set)"),
		rate:        fs.Float64("rate", 0, "open loop: requests per second"),
		arrival:     fs.String("arrival", "constant", "open loop: constant, poisson or gamma"),
		burst:       fs.Float64("burstiness", 1, "open loop, gamma: shape (below 1 is burstier)"),
		traceTime:   fs.Bool("trace-time", false, "replay the trace's own arrival times"),
		speedup:     fs.Float64("speedup", 1, "trace time: divide offsets by this"),
		maxFlight:   fs.Int("max-in-flight", 0, "open loop: drop arrivals beyond this many in flight (0: no cap)"),
		limit:       fs.Int("limit", 0, "stop each repetition after this many requests (0: all)"),
		duration:    fs.Duration("duration", 0, "stop sending new requests after this long (0: no limit)"),
		count:       fs.Int("count", 10, "repetitions"),
		warmup:      fs.Int("warmup", 0, "warm-up requests left out of the results (0: one per stream, -1: none)"),
		timeout:     fs.Duration("timeout", 5*time.Minute, "per-request timeout (also bounds the model list, cache reset and metrics calls when under 30s)"),
		stall:       fs.Duration("stall-timeout", time.Minute, "longest wait for the next streamed event before a request counts as stalled"),
		extra:       fs.String("extra", "", `more request-body fields as a JSON object, e.g. '{"cache_prompt":false,"top_k":1}' (null removes a default field)`),
		allowShort:  fs.Bool("allow-short-outputs", false, "accept outputs shorter than requested (the workload lets the model stop)"),
	}
}

// target is the server at url as the --engine flag describes it.
func (f *caseFlags) target(url string) (perftest.Target, error) {
	if *f.engine == "" {
		return perftest.Endpoint(url), nil
	}
	if !slices.Contains(engines.Names(), *f.engine) {
		return nil, fmt.Errorf("--engine %q: want one of %s", *f.engine, engineNames())
	}
	t, err := engines.Endpoint(*f.engine, url)
	if err != nil {
		return nil, fmt.Errorf("--engine %s: %w", *f.engine, err)
	}
	return t, nil
}

// workloadOf is the workload the flags describe, checked, and the kind of --workload (nil
// with --trace). Skipped trace rows are reported on stderr.
func (f *caseFlags) workloadOf(stderr io.Writer) (fixtures.Workload, *workloadKind, error) {
	if *f.tracePath != "" {
		tr, err := fixtures.OpenTrace(*f.tracePath, fixtures.TraceOptions{Format: *f.traceFmt, Lenient: *f.lenient, Vocab: *f.vocab,
			OnSkip: func(err error) { fmt.Fprintf(stderr, "skipped: %v\n", err) }})
		return tr, nil, err
	}
	kind, err := f.kind()
	if err != nil {
		return nil, nil, err
	}
	wl, err := kind.build(f)
	if err != nil {
		return nil, nil, err
	}
	if v, ok := wl.(interface{ Validate() error }); ok {
		if err := v.Validate(); err != nil {
			return nil, nil, f.flagErrors(err, kind.flags)
		}
	}
	return wl, kind, nil
}

// build returns the case the flags describe, without a target.
func (f *caseFlags) build(stderr io.Writer) (perftest.Case, error) {
	if err := checkCaseName(*f.name); err != nil {
		return perftest.Case{}, err
	}
	wl, kind, err := f.workloadOf(stderr)
	if err != nil {
		return perftest.Case{}, err
	}
	api, err := f.apiFor(kind)
	if err != nil {
		return perftest.Case{}, err
	}
	load := perftest.Load{Concurrency: *f.conc, Rate: *f.rate, TraceTime: *f.traceTime, MaxInFlight: *f.maxFlight,
		Requests: *f.limit, Duration: *f.duration, Seed: *f.seed}
	if *f.traceTime {
		load.Speedup = *f.speedup
	}
	switch *f.arrival {
	case "constant":
	case "poisson":
		load.Arrival = perftest.Poisson
	case "gamma":
		load.Arrival, load.Burstiness = perftest.Gamma, *f.burst
	default:
		return perftest.Case{}, fmt.Errorf("--arrival %q: want constant, poisson or gamma", *f.arrival)
	}
	if load.Concurrency == 0 && load.Rate == 0 && !load.TraceTime {
		load.Concurrency = 8
	}
	c := perftest.Case{Name: *f.name, Model: *f.model, Workload: wl, Load: load, Count: *f.count, Warmup: *f.warmup, Timeout: *f.timeout, StallTimeout: *f.stall,
		AllowShortOutputs: *f.allowShort}
	apis := map[string]perftest.API{"completions": perftest.Completions, "chat": perftest.Chat, "responses": perftest.Responses,
		"embeddings": perftest.Embeddings, "rerank": perftest.Rerank}
	var ok bool
	if c.API, ok = apis[api]; !ok {
		return perftest.Case{}, fmt.Errorf("--api %q: want completions, chat, responses, embeddings or rerank", api)
	}
	if *f.extra != "" {
		if err := json.Unmarshal([]byte(*f.extra), &c.Extra); err != nil || c.Extra == nil {
			return perftest.Case{}, fmt.Errorf("--extra %q: want a JSON object of request fields: %v", *f.extra, err)
		}
	}
	return c, nil
}

// execOptions are the session options of a command's run: messages name the flags.
func (f *caseFlags) execOptions() perftest.ExecOptions {
	return perftest.ExecOptions{Name: *f.name, Settings: caseSettings()}
}

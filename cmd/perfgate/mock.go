package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/perfgate/perfgate/backends/mock"
)

func init() {
	register(command{
		name:    "mock",
		summary: "serve the simulated engine with vLLM's launch flags, or replay a trace on it offline",
		run:     runMock,
	})
}

// mockOptions is what the mock flags set.
type mockOptions struct {
	cfg        mock.Config
	host       string
	port       int
	help       bool
	servedName string

	// replay only
	trace    string
	requests string

	cluster clusterOptions
}

// mockFlag is one flag. Flags with an empty arg are booleans; they also take =true/false.
type mockFlag struct {
	name, arg, usage string
	set              func(o *mockOptions, v string) error
	replay           bool // replay only
}

func intFlag(dst func(o *mockOptions) *int) func(*mockOptions, string) error {
	return func(o *mockOptions, v string) error {
		n, err := parseCount(v)
		if err != nil {
			return err
		}
		*dst(o) = n
		return nil
	}
}

func floatFlag(dst func(o *mockOptions) *float64) func(*mockOptions, string) error {
	return func(o *mockOptions, v string) error {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return err
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return errors.New("want a finite number")
		}
		*dst(o) = f
		return nil
	}
}

func durationFlag(dst func(o *mockOptions) *time.Duration) func(*mockOptions, string) error {
	return func(o *mockOptions, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return err
		}
		*dst(o) = d
		return nil
	}
}

func boolFlag(dst func(o *mockOptions) *bool, value bool) func(*mockOptions, string) error {
	return func(o *mockOptions, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return err
		}
		*dst(o) = b == value
		return nil
	}
}

// parseCount reads an integer with vLLM's size suffixes: k/m/g are powers of 1000,
// K/M/G powers of 1024 ("32k" = 32000, "32K" = 32768).
func parseCount(v string) (int, error) {
	mult := 1
	if n := len(v); n > 1 {
		if m, ok := map[byte]int{'k': 1e3, 'm': 1e6, 'g': 1e9, 'K': 1 << 10, 'M': 1 << 20, 'G': 1 << 30}[v[n-1]]; ok {
			mult, v = m, v[:n-1]
		}
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil && mult > 1 {
		return int(f * float64(mult)), nil
	}
	n, err := strconv.Atoi(v)
	return n * mult, err
}

var mockFlags = []mockFlag{
	// vLLM's flags that the simulator models.
	{name: "model", arg: "NAME", usage: "model name to serve (default " + mock.DefaultModel + ")",
		set: func(o *mockOptions, v string) error { o.cfg.Model = v; return nil }},
	{name: "served-model-name", arg: "NAME", usage: "name the API serves the model under (overrides --model)",
		set: func(o *mockOptions, v string) error { o.servedName = v; return nil }},
	{name: "host", arg: "ADDR", usage: "address to listen on (default all interfaces)",
		set: func(o *mockOptions, v string) error { o.host = v; return nil }},
	{name: "port", arg: "N", usage: "port to listen on (default 8000; 0 picks a free one)", set: intFlag(func(o *mockOptions) *int { return &o.port })},
	{name: "max-num-seqs", arg: "N", usage: "maximum running sequences (default 1024)", set: intFlag(func(o *mockOptions) *int { return &o.cfg.MaxNumSeqs })},
	{name: "max-num-batched-tokens", arg: "N", usage: "token budget of one step (default 8192)", set: intFlag(func(o *mockOptions) *int { return &o.cfg.MaxNumBatchedTokens })},
	{name: "block-size", arg: "N", usage: "KV block size in tokens (default 16)", set: intFlag(func(o *mockOptions) *int { return &o.cfg.BlockSize })},
	{name: "num-gpu-blocks-override", arg: "N", usage: "KV cache size in blocks (default 16384)", set: intFlag(func(o *mockOptions) *int { return &o.cfg.NumGPUBlocks })},
	{name: "num-gpu-blocks", arg: "N", usage: "same as --num-gpu-blocks-override", set: intFlag(func(o *mockOptions) *int { return &o.cfg.NumGPUBlocks })},
	{name: "enable-prefix-caching", usage: "automatic prefix caching (the default)", set: boolFlag(func(o *mockOptions) *bool { return &o.cfg.DisablePrefixCaching }, false)},
	{name: "no-enable-prefix-caching", usage: "turn automatic prefix caching off", set: boolFlag(func(o *mockOptions) *bool { return &o.cfg.DisablePrefixCaching }, true)},
	{name: "max-model-len", arg: "N", usage: "maximum prompt + output tokens (default 131072, at most the KV cache; 32k and 32K suffixes work)", set: intFlag(func(o *mockOptions) *int { return &o.cfg.MaxModelLen })},
	{name: "seed", arg: "N", usage: "seed of noise and fault draws",
		set: func(o *mockOptions, v string) error {
			n, err := strconv.ParseUint(v, 10, 64)
			o.cfg.Seed = n
			return err
		}},
	// The simulator's own flags.
	{name: "speedup-ratio", arg: "X", usage: "divide every step time by X (default 1)", set: floatFlag(func(o *mockOptions) *float64 { return &o.cfg.SpeedupRatio })},
	{name: "profile", arg: "FILE", usage: "step-time profile: a JSON coefficients file, or the built-in \"polynomial\" (default) or \"linear\"",
		set: func(o *mockOptions, v string) error {
			switch v {
			case "polynomial", "default":
				o.cfg.Profile = mock.DefaultProfile()
			case "linear":
				o.cfg.Profile = mock.LinearProfile()
			default:
				p, err := mock.LoadProfile(v)
				if err != nil {
					return err
				}
				o.cfg.Profile = p
			}
			return nil
		}},
	{name: "coalesce", arg: "N", usage: "stream dialect: merge up to N tokens into one chunk, as vLLM does when the client falls behind", set: intFlag(func(o *mockOptions) *int { return &o.cfg.Dialect.Coalesce })},
	{name: "usage-every-chunk", usage: "stream dialect: usage on every chunk, as TensorRT-LLM's continuous usage stats", set: boolFlag(func(o *mockOptions) *bool { return &o.cfg.Dialect.UsageEveryChunk }, true)},
	{name: "usage-with-last-choice", usage: "stream dialect: the final usage beside an empty last choice, as llama.cpp sends it", set: boolFlag(func(o *mockOptions) *bool { return &o.cfg.Dialect.UsageWithLastChoice }, true)},
	{name: "noise", arg: "SD", usage: "log-normal step-time noise, standard deviation (default 0)", set: floatFlag(func(o *mockOptions) *float64 { return &o.cfg.Noise })},
	{name: "unlimited-kv-cache", usage: "a KV cache without a size limit (ignores --num-gpu-blocks-override)", set: boolFlag(func(o *mockOptions) *bool { return &o.cfg.UnlimitedKVCache }, true)},
	{name: "startup-delay", arg: "DUR", usage: "answer 503 on /health and the API for this long after start", set: durationFlag(func(o *mockOptions) *time.Duration { return &o.cfg.StartupDelay })},
	{name: "fault-error-rate", arg: "P", usage: "fraction of requests answered with HTTP 500", set: floatFlag(func(o *mockOptions) *float64 { return &o.cfg.Faults.ErrorRate })},
	{name: "fault-disconnect-rate", arg: "P", usage: "fraction of responses cut mid-stream", set: floatFlag(func(o *mockOptions) *float64 { return &o.cfg.Faults.DisconnectRate })},
	{name: "fault-stall-rate", arg: "P", usage: "fraction of streams that stall mid-stream", set: floatFlag(func(o *mockOptions) *float64 { return &o.cfg.Faults.StallRate })},
	{name: "fault-stall", arg: "DUR", usage: "length of a stall (default 1s)", set: durationFlag(func(o *mockOptions) *time.Duration { return &o.cfg.Faults.Stall })},
	{name: "fault-malformed-rate", arg: "P", usage: "fraction of streams with one event that is not JSON", set: floatFlag(func(o *mockOptions) *float64 { return &o.cfg.Faults.MalformedRate })},
	{name: "fault-slow-start", arg: "DUR", usage: "steps are slow (3x, easing to 1x) for this long after start", set: durationFlag(func(o *mockOptions) *time.Duration { return &o.cfg.Faults.SlowStart })},
	// A cluster (mockcluster.go).
	{name: "workers", arg: "N", usage: "simulated workers behind a router, each an engine with its own KV cache (default 1: one engine)",
		set: intFlag(func(o *mockOptions) *int { return &o.cluster.workers })},
	{name: "router", arg: "POLICY", usage: "router policy: kv, round-robin (default), random or least-loaded; replay takes a comma-separated list and compares them",
		set: func(o *mockOptions, v string) error { return o.cluster.setPolicies(v) }},
	{name: "router-mode", arg: "POLICY", usage: "same as --router (Dynamo's name)",
		set: func(o *mockOptions, v string) error { return o.cluster.setPolicies(v) }},
	{name: "kv-overlap-score-weight", arg: "W", usage: "KV router: weight of the prefill blocks against the active blocks (default 1)",
		set: floatFlag(func(o *mockOptions) *float64 { return &o.cluster.router.OverlapWeight })},
	{name: "router-temperature", arg: "T", usage: "KV router: softmax temperature over the workers' costs (default 0: the cheapest)",
		set: floatFlag(func(o *mockOptions) *float64 { return &o.cluster.router.Temperature })},
	// replay
	{name: "trace", arg: "FILE", usage: "Mooncake JSONL trace to replay", replay: true,
		set: func(o *mockOptions, v string) error { o.trace = v; return nil }},
	{name: "requests", arg: "FILE", usage: "write one JSON line per request (TTFT, e2e, cached tokens) to FILE (- for stdout)", replay: true,
		set: func(o *mockOptions, v string) error { o.requests = v; return nil }},
	{name: "trace-speedup", arg: "S", usage: "divide the trace's arrival times by S", replay: true,
		set: floatFlag(func(o *mockOptions) *float64 { return &o.cluster.synth.Speedup })},
	{name: "prefix-len-multiplier", arg: "F", usage: "stretch every shared prefix of the trace by F (fixtures.Synthesize)", replay: true,
		set: floatFlag(func(o *mockOptions) *float64 { return &o.cluster.synth.PrefixLen })},
	{name: "prefix-root-multiplier", arg: "K", usage: "split the trace over K disjoint copies of its prefix tree", replay: true,
		set: intFlag(func(o *mockOptions) *int { return &o.cluster.synth.PrefixRoots })},
	{name: "prompt-len-multiplier", arg: "G", usage: "stretch the unique part of every prompt by G", replay: true,
		set: floatFlag(func(o *mockOptions) *float64 { return &o.cluster.synth.PromptLen })},
	{name: "max-isl", arg: "N", usage: "drop requests with more than N prompt tokens (after synthesis)", replay: true,
		set: intFlag(func(o *mockOptions) *int { return &o.cluster.maxISL })},
}

// vllmBoolFlags are vLLM flags without a value that the simulator does not model: they are
// accepted with a warning. Any other unknown flag is accepted with a warning too, taking the
// next argument as its value unless that starts with "-".
var vllmBoolFlags = map[string]bool{
	"enable-prompt-tokens-details": true, "trust-remote-code": true, "enforce-eager": true,
	"disable-log-requests": true, "disable-log-stats": true, "enable-log-requests": true,
	"enable-chunked-prefill": true, "no-enable-chunked-prefill": true,
	"disable-frontend-multiprocessing": true, "enable-lora": true, "disable-custom-all-reduce": true,
	"enable-sleep-mode": true, "enable-expert-parallel": true, "async-scheduling": true,
	"disable-fastapi-docs": true, "enable-server-load-tracking": true, "enable-force-include-usage": true,
	"headless": true, "disable-sliding-window": true, "skip-tokenizer-init": true,
	"enable-reasoning": true, "disable-uvicorn-access-log": true, "enable-request-id-headers": true,
	"return-tokens-as-token-ids": true, "no-enable-prefix-caching-hash": true, "use-v2-block-manager": true,
	"disable-async-output-proc": true, "enable-prefix-caching-hash": true, "kv-cache-metrics": true,
}

// parseMockArgs reads vLLM-style arguments: --flag value, --flag=value, -flag, underscores
// or dashes, and a leading positional model name (as in `vllm serve MODEL`). Warnings for
// flags it does not model go to warn.
func parseMockArgs(args []string, replay bool, warn io.Writer) (mockOptions, error) {
	o := mockOptions{port: 8000}
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		if replay {
			o.trace = args[0] // perfgate mock replay FILE
		} else {
			o.cfg.Model = args[0] // vllm serve MODEL
		}
		args = args[1:]
	}
	byName := map[string]*mockFlag{}
	for i := range mockFlags {
		f := &mockFlags[i]
		if !f.replay || replay {
			byName[f.name] = f
		}
	}
	var errs []error
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "-h" || a == "--help" || a == "-help" {
			o.help = true
			continue
		}
		if !strings.HasPrefix(a, "-") || a == "-" || a == "--" {
			errs = append(errs, fmt.Errorf("unexpected argument %q", a))
			continue
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		name = strings.ReplaceAll(name, "_", "-")
		f, ok := byName[name]
		if !ok && slices.ContainsFunc(mockFlags, func(f mockFlag) bool { return f.replay && f.name == name }) {
			errs = append(errs, fmt.Errorf("flag --%s is only for perfgate mock replay", name))
			if !hasVal {
				i++
			}
			continue
		}
		if !ok {
			if !hasVal && !vllmBoolFlags[name] && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
				val = args[i+1]
				i++
			}
			fmt.Fprintf(warn, "perfgate mock: warning: flag --%s is not modelled by the simulator; ignored\n", name)
			continue
		}
		if f.arg == "" {
			if !hasVal {
				val = "true"
			}
		} else if !hasVal {
			if i+1 >= len(args) {
				errs = append(errs, fmt.Errorf("flag --%s needs a value (%s)", name, f.arg))
				continue
			}
			val = args[i+1]
			i++
		}
		if err := f.set(&o, val); err != nil {
			errs = append(errs, fmt.Errorf("flag --%s %q: %w", name, val, err))
		}
	}
	if o.servedName != "" {
		o.cfg.Model = o.servedName
	}
	return o, errors.Join(errs...)
}

func mockUsage(w io.Writer) {
	fmt.Fprint(w, `Usage:

	perfgate mock [serve] [MODEL] [flags]       serve the simulator (vLLM's launch flags)
	perfgate mock replay [--trace] FILE [flags] replay a Mooncake trace on a virtual clock

The simulator is an iteration-level engine (FIFO queue, chunked prefill, KV blocks with
prefix caching, preemption) timed by a step-time profile, behind vLLM's OpenAI-compatible
API (/v1/completions, /v1/chat/completions, /v1/responses, /v1/models, /health, /metrics;
with --runner pooling /v1/embeddings, /score, /rerank). It generates exactly max_tokens
tokens per request: reasoning, text, a JSON object or a tool call as the flags and the
request ask. vLLM flags it does not model are accepted with a warning, so a vLLM launch
line works unchanged.

Flags:
`)
	for _, f := range mockFlags {
		name := "--" + f.name
		if f.arg != "" {
			name += " " + f.arg
		}
		if f.replay {
			name += " (replay)"
		}
		fmt.Fprintf(w, "  %-34s %s\n", name, f.usage)
	}
}

func runMock(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	replay := false
	if len(args) > 0 && (args[0] == "serve" || args[0] == "replay") {
		replay = args[0] == "replay"
		args = args[1:]
	}
	o, err := parseMockArgs(args, replay, stderr)
	if o.help {
		mockUsage(stdout)
		return 0, nil
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		mockUsage(stderr)
		return 2, nil
	}
	if len(o.cluster.policies) > 1 && !replay {
		fmt.Fprintln(stderr, "perfgate mock: a server has one --router policy; replay compares several")
		return 2, nil
	}
	if o.cluster.on() {
		if replay {
			return clusterReplay(ctx, o, stdout, stderr)
		}
		return clusterServe(ctx, o, stderr)
	}
	if replay {
		return mockReplay(ctx, o, stdout, stderr)
	}
	return mockServe(ctx, o, stderr)
}

func mockServe(ctx context.Context, o mockOptions, stderr io.Writer) (int, error) {
	srv, err := mock.New(o.cfg)
	if err != nil {
		return 2, err
	}
	return serveUntilDone(ctx, o, stderr, srv, func(addr net.Addr) string {
		return fmt.Sprintf("serving model %s on %s", srv.Model(), baseURL(addr))
	})
}

// baseURL is a URL a user can paste for a listener's address: an unspecified host (all
// interfaces, the default of --host) becomes the loopback address of its family, with a
// note that every interface is served.
func baseURL(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok || !tcp.IP.IsUnspecified() {
		return "http://" + addr.String()
	}
	loop := "127.0.0.1"
	if tcp.IP.To4() == nil {
		loop = "::1"
	}
	return "http://" + net.JoinHostPort(loop, strconv.Itoa(tcp.Port)) + " (all interfaces)"
}

// serveUntilDone serves s on o's host and port until ctx ends (exit status 0) or serving
// fails (1), saying on stderr where it serves (banner) and that it stopped.
func serveUntilDone(ctx context.Context, o mockOptions, stderr io.Writer, s interface {
	Serve(net.Listener) error
	Close() error
}, banner func(net.Addr) string) (int, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(o.host, strconv.Itoa(o.port)))
	if err != nil {
		return 1, fmt.Errorf("listen: %w", err)
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(ln) }()
	fmt.Fprintf(stderr, "perfgate mock: %s\n", banner(ln.Addr()))
	select {
	case <-ctx.Done():
		s.Close()
		<-errc
		fmt.Fprintln(stderr, "perfgate mock: stopped")
		return 0, nil
	case err := <-errc:
		s.Close()
		return 1, err
	}
}

// requestsOut opens what --requests names for the replay's per-request lines: standard
// output for "-", else the file, written through a buffer; nil when --requests is unset.
// Call closeRec when done.
func requestsOut(o mockOptions, stdout io.Writer) (rec *json.Encoder, closeRec func(), err error) {
	switch o.requests {
	case "":
		return nil, func() {}, nil
	case "-":
		return json.NewEncoder(stdout), func() {}, nil
	}
	f, err := os.Create(o.requests)
	if err != nil {
		return nil, nil, fmt.Errorf("replay: %w", err)
	}
	bw := bufio.NewWriter(f)
	return json.NewEncoder(bw), func() { bw.Flush(); f.Close() }, nil
}

// replayRecord is one line of --requests output.
type replayRecord struct {
	Index        int     `json:"index"`
	ArrivalMS    float64 `json:"arrival_ms"`
	PromptTokens int     `json:"prompt_tokens"`
	CachedTokens int     `json:"cached_tokens"`
	OutputTokens int     `json:"output_tokens"`
	QueueMS      float64 `json:"queue_ms"`
	TTFTMS       float64 `json:"ttft_ms"`
	E2EMS        float64 `json:"e2e_ms"`
	Preemptions  int     `json:"preemptions,omitempty"`
	Error        string  `json:"error,omitempty"`
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

func mockReplay(ctx context.Context, o mockOptions, stdout, stderr io.Writer) (int, error) {
	if o.trace == "" {
		return 2, errors.New("replay needs --trace FILE")
	}
	if o.cfg.UnlimitedKVCache && o.cfg.MaxModelLen == 0 {
		o.cfg.MaxModelLen = 1 << 20
	}
	rec, closeRec, err := requestsOut(o, stdout)
	if err != nil {
		return 1, err
	}
	defer closeRec()
	reqs := replayRequests(ctx, o)
	var ttft, e2e, queue []float64
	var werr error
	st, err := mock.Replay(o.cfg, reqs, func(r mock.ReplayResult) {
		if r.Err == nil {
			ttft = append(ttft, ms(r.TTFT))
			e2e = append(e2e, ms(r.E2E))
			queue = append(queue, ms(r.Queue))
		}
		if rec != nil && werr == nil {
			x := replayRecord{Index: r.Index, ArrivalMS: ms(r.Arrival), PromptTokens: r.PromptTokens, CachedTokens: r.CachedTokens,
				OutputTokens: r.OutputTokens, QueueMS: ms(r.Queue), TTFTMS: ms(r.TTFT), E2EMS: ms(r.E2E), Preemptions: r.Preemptions}
			if r.Err != nil {
				x.Error = r.Err.Error()
			}
			werr = rec.Encode(x)
		}
	})
	if err != nil {
		return 1, err
	}
	if werr != nil {
		return 1, fmt.Errorf("replay: write requests: %w", werr)
	}
	out := stdout
	if o.requests == "-" {
		out = stderr // stdout carries the records
	}
	fmt.Fprintf(out, "trace        %s\n", o.trace)
	fmt.Fprintf(out, "requests     %d (%d rejected)\n", st.Requests, st.Rejected)
	fmt.Fprintf(out, "prompt       %d tokens, %d cached\n", st.PromptTokens, st.CachedTokens)
	fmt.Fprintf(out, "hit ratio    %.2f%%\n", 100*st.HitRatio())
	fmt.Fprintf(out, "output       %d tokens\n", st.OutputTokens)
	fmt.Fprintf(out, "makespan     %v (engine busy %v, %d steps, %d preemptions)\n", st.Makespan.Round(time.Millisecond), st.Busy.Round(time.Millisecond), st.Steps, st.Preemptions)
	for _, m := range []struct {
		name string
		v    []float64
	}{{"queue ms", queue}, {"TTFT ms", ttft}, {"e2e ms", e2e}} {
		fmt.Fprintf(out, "%-12s p50 %.1f  p90 %.1f  p99 %.1f  max %.1f\n", m.name, pct(m.v, 0.5), pct(m.v, 0.9), pct(m.v, 0.99), pct(m.v, 1))
	}
	return 0, nil
}

// pct is the nearest-rank percentile q of v (sorting v).
func pct(v []float64, q float64) float64 {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	i := int(q*float64(len(v))+0.999999) - 1
	return v[min(max(i, 0), len(v)-1)]
}

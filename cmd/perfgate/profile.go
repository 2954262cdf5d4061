package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"math"
	"net"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/perfgate/perfgate/backends/mock"
	"github.com/perfgate/perfgate/cmd/perfgate/internal/profile"
	"github.com/perfgate/perfgate/fixtures"
	"github.com/perfgate/perfgate/perftest"
)

func init() {
	register(command{
		name:    "profile",
		summary: "profile an endpoint's prefill and decode step times into a simulator profile (perfgate mock --profile)",
		run:     runProfile,
	})
}

const profileUsage = `Usage: perfgate profile --endpoint URL [flags]
       perfgate profile --simulate [--profile FILE] [flags]
       perfgate profile --self-test [--profile FILE] [flags]

Measures a server's step times (after Dynamo's profile_endpoint.py) and fits them to the
simulator's step-time profile: a prefill sweep at concurrency 1 (TTFT against the prompt
length, fitted with a quadratic) and a decode sweep of bursts over prompt length x
concurrency, searched rather than exhaustive and stopped early on saturation (step time
against the KV cache fraction, fitted with a quadratic). The KV capacity comes from the
server's vllm:cache_config_info, or --kv-capacity.

Prints the points and the fitted profile; with --out DIR writes DIR/profile.json (for
'perfgate mock --profile DIR/profile.json'), DIR/points.json and DIR/profile.png.

--simulate profiles the simulator (--profile, --num-gpu-blocks) on the virtual clock: no
server, no noise. --self-test serves the simulator over HTTP in this process, profiles it
on the real clock, and checks that the recovered coefficients are within 5% of the
simulator's and that a simulator with the recovered profile reproduces the original's TTFT
and ITL percentiles within 5% on a concurrency sweep (both on the virtual clock); exit 1
when a check fails.

Flags:
`

func runProfile(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	a, code, done, err := parseProfileArgs(args, stdout, stderr)
	if done || err != nil {
		return code, err
	}
	p, stop, code, err := a.prober(stderr)
	if err != nil {
		return code, err
	}
	defer stop()
	res, err := profile.Run(ctx, p, a.opt)
	if err != nil {
		return 1, fromServer(err)
	}
	printProfile(stdout, res)
	if a.out != "" {
		if err := writeProfile(stdout, a.out, res); err != nil {
			return 1, err
		}
	}
	if a.selfTest {
		fmt.Fprintf(stdout, "\nprofiled in %v; load average %s\n", res.Elapsed.Round(100*time.Millisecond), loadAverage())
		if !checkRecovery(stdout, a.cfg, res.Profile) {
			return 1, errors.New("self-test: the recovered profile is more than 5% off")
		}
	}
	return 0, nil
}

// profileArgs is what perfgate profile was asked to do.
type profileArgs struct {
	endpoint           string
	simulate, selfTest bool
	out                string
	opt                profile.Options
	ep                 profile.EndpointOptions // --endpoint, --self-test
	cfg                mock.Config             // the simulator's, for --simulate and --self-test
}

// parseProfileArgs reads perfgate profile's flags; when done, the command ends with code.
func parseProfileArgs(args []string, stdout, stderr io.Writer) (a profileArgs, code int, done bool, err error) {
	fs := newFlagSet("profile", profileUsage, stderr)
	fs.StringVar(&a.endpoint, "endpoint", "", "server base URL, e.g. http://127.0.0.1:8000")
	fs.StringVar(&a.ep.Model, "model", "", "model name (default: the server's)")
	fs.DurationVar(&a.ep.Timeout, "timeout", 5*time.Minute, "per-request timeout (also bounds the /metrics read, at most 30s)")
	fs.DurationVar(&a.ep.StallTimeout, "stall-timeout", time.Minute, "longest wait for the next streamed event before a request counts as stalled")
	fs.BoolVar(&a.simulate, "simulate", false, "profile the simulator on the virtual clock")
	fs.BoolVar(&a.selfTest, "self-test", false, "profile the simulator over HTTP and check the recovery")
	profPath := fs.String("profile", "", "--simulate, --self-test: the simulator's profile (default: Dynamo's mocker polynomial)")
	fs.IntVar(&a.cfg.NumGPUBlocks, "num-gpu-blocks", mock.DefaultNumGPUBlocks, "--simulate, --self-test: the simulator's KV blocks")
	fs.StringVar(&a.out, "out", "", "folder for profile.json, points.json and profile.png")
	fs.IntVar(&a.opt.MaxISL, "max-isl", 8192, "longest prefill prompt (keep it at the server's max_num_batched_tokens)")
	fs.IntVar(&a.opt.OSL, "osl", 64, "output tokens of a decode burst")
	fs.IntVar(&a.opt.PrefillRequests, "prefill-requests", 15, "requests per prefill length")
	decodeISLs := fs.String("decode-isls", "1024,2048,4096", "prompt lengths of the decode sweep")
	fs.IntVar(&a.opt.KVCapacity, "kv-capacity", 0, "KV cache size in tokens, when the server does not report it")
	fs.IntVar(&a.opt.MaxConcurrency, "max-concurrency", 256, "largest decode burst (the server's max_num_seqs)")
	pos, code, done := parseArgs(fs, args, stdout)
	if done {
		return a, code, true, nil
	}
	if len(pos) > 0 {
		return a, 2, true, fmt.Errorf("unexpected arguments %q", pos)
	}
	modes := 0
	for _, on := range []bool{a.endpoint != "", a.simulate, a.selfTest} {
		if on {
			modes++
		}
	}
	if modes != 1 {
		fs.Usage()
		return a, 2, true, errors.New("give one of --endpoint URL, --simulate, --self-test")
	}
	if a.opt.DecodeISLs, err = parseInts(*decodeISLs); err != nil {
		return a, 2, true, fmt.Errorf("--decode-isls: %w", err)
	}
	if a.ep.Timeout <= 0 || a.ep.StallTimeout <= 0 {
		return a, 2, true, errors.New("--timeout and --stall-timeout must be > 0")
	}
	if a.out != "" {
		if err := checkOutDir("--out", a.out); err != nil {
			return a, 2, true, err
		}
	}
	a.opt.Logf = func(format string, args ...any) { fmt.Fprintf(stderr, format+"\n", args...) }
	a.ep.Settings = perftest.Settings{"Model": "--model", "Timeout": "--timeout", "StallTimeout": "--stall-timeout"}
	a.ep.Waiting = a.opt.Logf
	if *profPath != "" {
		if a.cfg.Profile, err = mock.LoadProfile(*profPath); err != nil {
			return a, 2, true, err
		}
	}
	if err := a.cfg.Validate(); err != nil {
		return a, 2, true, err
	}
	return a, 0, false, nil
}

// prober is what the run profiles: the endpoint, the simulator on the virtual clock, or
// (--self-test) the simulator served over HTTP here until stop. It names the profile in
// a.opt; on an error the command ends with code.
func (a *profileArgs) prober(stderr io.Writer) (p profile.Prober, stop func(), code int, err error) {
	switch {
	case a.endpoint != "":
		p, a.opt.Name = profile.Endpoint(a.endpoint, a.ep), "profiled "+a.endpoint
		return p, func() {}, 0, nil
	case a.simulate:
		p, a.opt.Name = profile.Simulated(a.cfg), "profiled simulator"
		a.opt.Logf = func(string, ...any) {} // nothing to wait for
		return p, func() {}, 0, nil
	}
	srv, err := mock.New(a.cfg)
	if err != nil {
		return nil, nil, 2, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, 1, err
	}
	go srv.Serve(ln)
	url := "http://" + ln.Addr().String()
	fmt.Fprintf(stderr, "perfgate profile: self-test: simulator on %s\n", url)
	ep := a.ep
	ep.Model = ""
	p, a.opt.Name = profile.Endpoint(url, ep), "profiled simulator over HTTP"
	return p, func() { srv.Close() }, 0, nil
}

// writeProfile writes the profile, its points and its plot to dir, and says so.
func writeProfile(stdout io.Writer, dir string, res *profile.Result) error {
	path, err := res.WriteFiles(dir)
	if err != nil {
		return err
	}
	if err := profile.Plot(filepath.Join(dir, "profile.png"), res); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nwrote %s (perfgate mock --profile %s), %s and %s\n", path, path,
		filepath.Join(dir, "points.json"), filepath.Join(dir, "profile.png"))
	return nil
}

func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}

func printProfile(w io.Writer, r *profile.Result) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "prefill ISL\tTTFT ms\ttokens/s\t")
	for _, p := range r.Prefill {
		fmt.Fprintf(tw, "%d\t%.3f\t%.0f\t\n", p.ISL, p.MedianMS, p.TokensPerSec)
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "decode ISL\tconcurrency\tKV fraction\tITL ms\ttokens/s\t\t")
	for _, p := range r.Decode {
		if p.Saturated {
			fmt.Fprintf(tw, "%d\t%d\t-\t-\t-\tsaturated: stopped\t\n", p.ISL, p.Concurrency)
			continue
		}
		fmt.Fprintf(tw, "%d\t%d\t%.3f\t%.3f\t%.0f\t\t\n", p.ISL, p.Concurrency, p.KVFraction, p.ITLms, p.TokensPerSec)
	}
	tw.Flush()
	pf, df := r.PrefillFit, r.DecodeFit
	fmt.Fprintf(w, "\nKV capacity  %d tokens\n", r.KVCapacity)
	fmt.Fprintf(w, "prefill_ms   %s   (R² %.5f, %d measurements)\n", coefs(pf.Coef), pf.R2, pf.N)
	fmt.Fprintf(w, "decode_ms    %s   (R² %.5f, %d bursts), at least %g\n", coefs(df.Coef), df.R2, df.N, r.Profile.DecodeMinMS)
}

func coefs(c []float64) string {
	s := make([]string, len(c))
	for i, v := range c {
		s[i] = fmt.Sprintf("%.5g", v)
	}
	return "[" + strings.Join(s, ", ") + "]"
}

// checkRecovery compares the recovered profile with the simulator's: coefficient by
// coefficient, and by the TTFT and ITL percentiles a simulator with each gives on a
// concurrency sweep (virtual clock). It prints both tables and reports whether everything
// is within 5%.
func checkRecovery(w io.Writer, cfg mock.Config, got mock.Profile) bool {
	want := cfg.Profile
	if want.IsZero() {
		want = mock.DefaultProfile()
	}
	ok := true
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\ncoefficient\tsimulator\trecovered\terror\t\t")
	row := func(name string, a, b float64) {
		e := math.Abs(b-a) / math.Abs(a)
		mark := "ok"
		if e > 0.05 {
			mark, ok = "OFF", false
		}
		fmt.Fprintf(tw, "%s\t%.5g\t%.5g\t%.2f%%\t%s\t\n", name, a, b, 100*e, mark)
	}
	for i, c := range want.PrefillMS {
		if i < len(got.PrefillMS) {
			row(fmt.Sprintf("prefill_ms[%d]", i), c, got.PrefillMS[i])
		}
	}
	for i, c := range want.DecodeMS {
		if i < len(got.DecodeMS) {
			row(fmt.Sprintf("decode_ms[%d]", i), c, got.DecodeMS[i])
		}
	}
	tw.Flush()
	orig, rec := cfg, cfg
	orig.Profile, rec.Profile = want, got
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\nconcurrency\tpercentile\tTTFT ms simulator\trecovered\terror\tITL ms simulator\trecovered\terror\t\t")
	wl := fixtures.Synthetic{ISL: 2048, ISLStdDev: 512, OSL: 128, Prompts: 200, Seed: 7}
	for _, c := range []int{1, 4, 16, 64, 128} {
		a, b := sweepPoint(orig, wl, c), sweepPoint(rec, wl, c)
		for i, q := range []float64{0.5, 0.9, 0.99} {
			et, ei := math.Abs(b[0][i]-a[0][i])/a[0][i], math.Abs(b[1][i]-a[1][i])/a[1][i]
			mark := "ok"
			if et > 0.05 || ei > 0.05 {
				mark, ok = "OFF", false
			}
			fmt.Fprintf(tw, "%d\tp%g\t%.2f\t%.2f\t%.2f%%\t%.3f\t%.3f\t%.2f%%\t%s\t\n", c, 100*q, a[0][i], b[0][i], 100*et, a[1][i], b[1][i], 100*ei, mark)
		}
	}
	tw.Flush()
	return ok
}

// sweepPoint replays wl closed loop at concurrency c on the simulator cfg (virtual clock)
// and returns TTFT and ITL p50, p90, p99 in ms.
func sweepPoint(cfg mock.Config, wl fixtures.Workload, c int) [2][3]float64 {
	reqs := func(yield func(mock.ReplayRequest, error) bool) {
		for r, err := range wl.Requests() {
			if !yield(mock.ReplayRequest{Tokens: r.Tokens, MaxTokens: r.OutputTokens}, err) {
				return
			}
		}
	}
	var ttft, itl []float64
	mock.ReplayCluster(mock.ClusterConfig{Worker: cfg}, iter.Seq2[mock.ReplayRequest, error](reqs), mock.ClusterReplayOptions{Concurrency: c, TokenTimes: true},
		func(r mock.ClusterReplayResult) {
			ttft = append(ttft, ms(r.TTFT))
			for i := 1; i < len(r.Tokens); i++ {
				itl = append(itl, ms(r.Tokens[i]-r.Tokens[i-1]))
			}
		})
	var out [2][3]float64
	for i, q := range []float64{0.5, 0.9, 0.99} {
		out[0][i], out[1][i] = pct(ttft, q), pct(itl, q)
	}
	return out
}

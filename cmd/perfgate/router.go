package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"iter"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/perfgate/perfgate/backends/mock"
	"github.com/perfgate/perfgate/fixtures"
	"github.com/perfgate/perfgate/internal/atomicfile"
	"github.com/perfgate/perfgate/perftest"
	"github.com/perfgate/perfgate/perftest/metric"
	"github.com/perfgate/perfgate/perftest/plot"
)

func init() {
	register(command{
		name:    "router",
		summary: "the KV-router benchmark: TTFT, ITL and throughput per router policy against the shared-prefix ratio and the load",
		run:     runRouter,
	})
}

const routerUsage = `Usage: perfgate router [flags]

The prefix-ratio router benchmark (after Dynamo's benchmarks/router): prompts of --isl
tokens whose first ratio x ISL tokens are one of --prefixes shared prefixes, --requests
of them per point, closed loop at each --concurrency, under each router policy.

By default on a simulated cluster of --workers engines on the virtual clock: seconds for
the whole sweep, the same figures on every run. With --endpoint POLICY=URL (repeatable)
it sends the same points over HTTP to routers you run instead (a Dynamo frontend with
--router-mode kv and one with round-robin, SGLang's router, llm-d, 'perfgate mock
--workers 4 --router kv', ...), --count repetitions each, medians reported.

Prints one row per point; with --out DIR writes DIR/router.csv and DIR/router.png (TTFT,
ITL and throughput against the prefix ratio, one line per policy and load).

Flags:
`

// routerPoint is one measured point of the sweep.
type routerPoint struct {
	policy      string
	concurrency int
	ratio       float64
	ttft50      float64 // ms
	ttft90      float64
	itl50       float64
	itl90       float64
	tokPerSec   float64
	hitRatio    float64 // NaN: not known
}

func runRouter(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	fs := newFlagSet("router", routerUsage, stderr)
	workers := fs.Int("workers", 4, "simulated workers")
	policies := fs.String("policies", "kv,round-robin", "simulated router policies, comma-separated (kv, round-robin, random, least-loaded)")
	ratios := fs.String("ratios", "0.1,0.3,0.5,0.7,0.9", "shared-prefix ratios, comma-separated")
	concs := fs.String("concurrency", "20", "loads: requests in flight, comma-separated")
	isl := fs.Int("isl", 14000, "prompt length in tokens")
	osl := fs.Int("osl", 200, "output length in tokens")
	requests := fs.Int("requests", 200, "requests per point")
	prefixes := fs.Int("prefixes", 20, "distinct shared prefixes")
	seed := fs.Uint64("seed", 1, "seed of the prompts (and of the random router)")
	out := fs.String("out", "", "folder for router.csv and router.png")
	// The simulator.
	speedup := fs.Float64("speedup-ratio", 1, "simulator: divide every step time by this")
	blocks := fs.Int("num-gpu-blocks", mock.DefaultNumGPUBlocks, "simulator: KV cache blocks per worker")
	blockSize := fs.Int("block-size", mock.DefaultBlockSize, "simulator: KV block size in tokens")
	maxSeqs := fs.Int("max-num-seqs", mock.DefaultMaxNumSeqs, "simulator: running sequences per worker")
	weight := fs.Float64("kv-overlap-score-weight", mock.DefaultOverlapWeight, "simulator, KV router: weight of prefill blocks against active blocks")
	temp := fs.Float64("router-temperature", 0, "simulator, KV router: softmax temperature")
	// Endpoints.
	var endpoints []string
	fs.Func("endpoint", "POLICY=URL: measure this running router as POLICY over HTTP (repeatable)", func(v string) error {
		if p, u, ok := strings.Cut(v, "="); !ok || p == "" || u == "" {
			return fmt.Errorf("want POLICY=URL, got %q", v)
		}
		endpoints = append(endpoints, v)
		return nil
	})
	count := fs.Int("count", 1, "endpoints: repetitions per point")
	model := fs.String("model", "", "endpoints: model name (default: the server's)")
	pos, code, done := parseArgs(fs, args, stdout)
	if done {
		return code, nil
	}
	if len(pos) > 0 {
		return 2, fmt.Errorf("unexpected arguments %q", pos)
	}
	rs, err := parseFloats(*ratios)
	if err != nil {
		return 2, fmt.Errorf("--ratios: %w", err)
	}
	cs, err := parseInts(*concs)
	if err != nil {
		return 2, fmt.Errorf("--concurrency: %w", err)
	}
	wl := func(ratio float64, i int) fixtures.SharedPrefix {
		return fixtures.SharedPrefix{ISL: *isl, OSL: *osl, PrefixRatio: ratio, NumPrefixes: *prefixes, Prompts: *requests, Seed: *seed + uint64(i)}
	}
	for i, r := range rs {
		if err := wl(r, i).Validate(); err != nil {
			return 2, err
		}
	}
	if *out != "" {
		if err := checkOutDir("--out", *out); err != nil {
			return 2, err
		}
	}
	var pts []routerPoint
	if len(endpoints) > 0 {
		pts, err = routerEndpoints(ctx, endpoints, rs, cs, wl, *count, *model, stderr)
		if err != nil {
			return 1, err
		}
	} else {
		var ps []mock.RouterPolicy
		for name := range strings.SplitSeq(*policies, ",") {
			p, err := mock.ParseRouterPolicy(strings.TrimSpace(name))
			if err != nil {
				return 2, fmt.Errorf("--policies: %w", err)
			}
			ps = append(ps, p)
		}
		base := mock.ClusterConfig{Workers: *workers, Worker: mock.Config{SpeedupRatio: *speedup, NumGPUBlocks: *blocks, BlockSize: *blockSize, MaxNumSeqs: *maxSeqs},
			Router: mock.RouterConfig{OverlapWeight: *weight, Temperature: *temp, Seed: *seed}}
		if err := base.Validate(); err != nil {
			return 2, err
		}
		start := time.Now()
		for _, c := range cs {
			for i, r := range rs {
				for _, p := range ps {
					cfg := base
					cfg.Router.Policy = p
					pt, err := routerSimulate(cfg, wl(r, i), c)
					if err != nil {
						return 1, err
					}
					pt.policy, pt.concurrency, pt.ratio = string(p), c, r
					pts = append(pts, pt)
				}
			}
		}
		fmt.Fprintf(stderr, "perfgate router: %d points simulated in %v\n", len(pts), time.Since(start).Round(10*time.Millisecond))
	}
	printRouter(stdout, pts)
	if *out != "" {
		if err := writeRouterFiles(*out, pts); err != nil {
			return 1, err
		}
		fmt.Fprintf(stdout, "\nwrote %s and %s\n", filepath.Join(*out, "router.csv"), filepath.Join(*out, "router.png"))
	}
	return 0, nil
}

func parseFloats(s string) ([]float64, error) {
	var out []float64
	for f := range strings.SplitSeq(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func parseInts(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, err
		}
		if v < 1 {
			return nil, fmt.Errorf("%d is not a load", v)
		}
		out = append(out, v)
	}
	return out, nil
}

// routerSimulate runs one point on the virtual clock.
func routerSimulate(cfg mock.ClusterConfig, wl fixtures.Workload, conc int) (routerPoint, error) {
	reqs := func(yield func(mock.ReplayRequest, error) bool) {
		for r, err := range wl.Requests() {
			if !yield(mock.ReplayRequest{Tokens: r.Tokens, MaxTokens: r.OutputTokens}, err) {
				return
			}
		}
	}
	var ttft, itl []float64
	st, err := mock.ReplayCluster(cfg, iter.Seq2[mock.ReplayRequest, error](reqs), mock.ClusterReplayOptions{Concurrency: conc, TokenTimes: true},
		func(r mock.ClusterReplayResult) {
			if r.Err != nil {
				return
			}
			ttft = append(ttft, ms(r.TTFT))
			for i := 1; i < len(r.Tokens); i++ {
				itl = append(itl, ms(r.Tokens[i]-r.Tokens[i-1]))
			}
		})
	if err != nil {
		return routerPoint{}, err
	}
	if st.Rejected > 0 {
		return routerPoint{}, fmt.Errorf("router: %d of %d requests rejected (longer than max_model_len?)", st.Rejected, st.Requests)
	}
	pt := routerPoint{ttft50: pct(ttft, 0.5), ttft90: pct(ttft, 0.9), itl50: pct(itl, 0.5), itl90: pct(itl, 0.9), hitRatio: st.HitRatio()}
	if st.Makespan > 0 {
		pt.tokPerSec = float64(st.OutputTokens) / st.Makespan.Seconds()
	}
	return pt, nil
}

// routerEndpoints measures every point against each running router over HTTP.
func routerEndpoints(ctx context.Context, endpoints []string, rs []float64, cs []int, wl func(float64, int) fixtures.SharedPrefix, count int, model string, stderr io.Writer) ([]routerPoint, error) {
	var pts []routerPoint
	med := func(res *perftest.Result, unit string, scale float64) float64 {
		v := res.Value(unit)
		if len(v) == 0 {
			return math.NaN()
		}
		slices.Sort(v)
		return scale * v[len(v)/2]
	}
	for _, c := range cs {
		for i, r := range rs {
			for _, e := range endpoints {
				policy, url, _ := strings.Cut(e, "=")
				cs := perftest.Case{Name: "PerfRouter", Target: perftest.Endpoint(url), Model: model, Workload: wl(r, i),
					Load: perftest.Concurrency(c), Count: count, Warmup: -1}
				res, err := perftest.Execute(ctx, cs, perftest.ExecOptions{Logf: func(string, ...any) {}, Settings: perftest.Settings{"Model": "--model", "Count": "--count"}})
				if err != nil {
					return pts, fmt.Errorf("router: %s at ratio %g, concurrency %d: %w", e, r, c, fromServer(err))
				}
				if len(res.Problems) > 0 {
					fmt.Fprintf(stderr, "perfgate router: %s at ratio %g, concurrency %d: %v\n", e, r, c, fromServers(res.Problems))
				}
				pts = append(pts, routerPoint{policy: policy, concurrency: c, ratio: r,
					ttft50: med(res, metric.TTFTP50, 1e3), ttft90: med(res, metric.TTFTP90, 1e3),
					itl50: med(res, metric.ITLP50, 1e3), itl90: med(res, metric.ITLP90, 1e3),
					tokPerSec: med(res, metric.TokenRate, 1), hitRatio: med(res, metric.ServerPrefixHitRatio, 1)})
				fmt.Fprintf(stderr, "perfgate router: %s ratio %g concurrency %d: TTFT p50 %.1f ms\n", policy, r, c, pts[len(pts)-1].ttft50)
			}
		}
	}
	return pts, nil
}

// kvTTFT is the KV policy's TTFT p50 at the point of p ("kv" by name), NaN if none.
func kvTTFT(pts []routerPoint, p routerPoint) float64 {
	for _, q := range pts {
		if q.policy == string(mock.RouteKV) && q.concurrency == p.concurrency && q.ratio == p.ratio {
			return q.ttft50
		}
	}
	return math.NaN()
}

func fmtF(format string, v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return fmt.Sprintf(format, v)
}

func printRouter(w io.Writer, pts []routerPoint) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "concurrency\tprefix ratio\tpolicy\tTTFT p50 ms\tp90\tITL p50 ms\tp90\toutput tok/s\thit ratio\tTTFT p50 / kv's\t")
	for _, p := range pts {
		fmt.Fprintf(tw, "%d\t%.2f\t%s\t%.1f\t%.1f\t%.2f\t%.2f\t%.0f\t%s\t%s\t\n", p.concurrency, p.ratio, p.policy, p.ttft50, p.ttft90,
			p.itl50, p.itl90, p.tokPerSec, fmtF("%.1f%%", 100*p.hitRatio), fmtF("%.2fx", p.ttft50/kvTTFT(pts, p)))
	}
	tw.Flush()
}

func writeRouterFiles(dir string, pts []routerPoint) error {
	err := atomicfile.Write(filepath.Join(dir, "router.csv"), func(w io.Writer) error {
		cw := csv.NewWriter(w)
		cw.Write([]string{"policy", "concurrency", "prefix_ratio", "ttft_p50_ms", "ttft_p90_ms", "itl_p50_ms", "itl_p90_ms", "output_tok_per_s", "prefix_hit_ratio"})
		f := func(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }
		for _, p := range pts {
			cw.Write([]string{p.policy, strconv.Itoa(p.concurrency), f(p.ratio), f(p.ttft50), f(p.ttft90), f(p.itl50), f(p.itl90), f(p.tokPerSec), f(p.hitRatio)})
		}
		cw.Flush()
		return cw.Error()
	})
	if err != nil {
		return fmt.Errorf("router: %w", err)
	}
	return plot.Panels(filepath.Join(dir, "router.png"), routerPanels(pts)...)
}

// routerPanels draws TTFT, ITL and throughput against the prefix ratio, one line per
// policy and load.
func routerPanels(pts []routerPoint) []plot.Panel {
	type key struct {
		policy string
		conc   int
	}
	var keys []key
	for _, p := range pts {
		if k := (key{p.policy, p.conc()}); !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	multi := false
	for _, k := range keys {
		multi = multi || k.conc != keys[0].conc
	}
	panel := func(title, y string, logY bool, v func(routerPoint) float64) plot.Panel {
		pn := plot.Panel{Title: title, X: "shared-prefix ratio", Y: y, LogY: logY}
		for _, k := range keys {
			l := plot.Curve{Name: k.policy}
			if multi {
				l.Name += " @" + strconv.Itoa(k.conc)
			}
			for _, p := range pts {
				if p.policy == k.policy && p.concurrency == k.conc {
					l.X, l.Y = append(l.X, p.ratio), append(l.Y, v(p))
				}
			}
			pn.Curves = append(pn.Curves, l)
		}
		return pn
	}
	return []plot.Panel{
		panel("TTFT p50", "ms", false, func(p routerPoint) float64 { return p.ttft50 }),
		panel("ITL p50", "ms", false, func(p routerPoint) float64 { return p.itl50 }),
		panel("throughput", "output tokens/s", false, func(p routerPoint) float64 { return p.tokPerSec }),
	}
}

func (p routerPoint) conc() int { return p.concurrency }

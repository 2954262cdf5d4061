package main

import (
	"context"
	"fmt"
	"io"
	"iter"
	"net"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/perfgate/perfgate/backends/mock"
	"github.com/perfgate/perfgate/fixtures"
)

// clusterOptions are the flags of a simulated cluster and of the trace synthesis of replay.
type clusterOptions struct {
	workers  int
	policies []mock.RouterPolicy
	router   mock.RouterConfig
	synth    fixtures.Synthesize
	maxISL   int
}

// on reports whether the flags ask for a cluster rather than one engine.
func (c *clusterOptions) on() bool { return c.workers > 1 || len(c.policies) > 0 }

func (c *clusterOptions) setPolicies(v string) error {
	c.policies = c.policies[:0]
	for name := range strings.SplitSeq(v, ",") {
		p, err := mock.ParseRouterPolicy(strings.TrimSpace(name))
		if err != nil {
			return err
		}
		c.policies = append(c.policies, p)
	}
	return nil
}

func (c *clusterOptions) config(cfg mock.Config, p mock.RouterPolicy) mock.ClusterConfig {
	r := c.router
	r.Policy, r.Seed = p, cfg.Seed
	return mock.ClusterConfig{Workers: max(c.workers, 1), Worker: cfg, Router: r}
}

// replayTrace is the trace replay reads: the Mooncake file, synthesized and filtered as the
// flags say.
func replayTrace(o mockOptions) fixtures.Trace {
	var tr fixtures.Trace = fixtures.Mooncake{Path: o.trace}
	s := o.cluster.synth
	if s.Speedup != 0 || s.PrefixLen != 0 || s.PromptLen != 0 || s.PrefixRoots != 0 {
		s.Trace, s.Seed = tr, o.cfg.Seed
		tr = s
	}
	if o.cluster.maxISL > 0 {
		tr = fixtures.Transform{Trace: tr, MaxISL: o.cluster.maxISL}
	}
	return tr
}

// replayRequests streams the replay's requests, stopping with ctx's error when it ends.
func replayRequests(ctx context.Context, o mockOptions) iter.Seq2[mock.ReplayRequest, error] {
	tr := replayTrace(o)
	return func(yield func(mock.ReplayRequest, error) bool) {
		for r, err := range tr.Requests() {
			if err == nil {
				err = ctx.Err()
			}
			if !yield(mock.ReplayRequest{Arrival: r.Arrival, Tokens: r.Tokens, MaxTokens: r.OutputTokens}, err) {
				return
			}
		}
	}
}

func clusterServe(ctx context.Context, o mockOptions, stderr io.Writer) (int, error) {
	p := mock.RouteRoundRobin
	if len(o.cluster.policies) > 0 {
		p = o.cluster.policies[0]
	}
	c, err := mock.NewCluster(o.cluster.config(o.cfg, p))
	if err != nil {
		return 2, err
	}
	return serveUntilDone(ctx, o, stderr, c, func(addr net.Addr) string {
		return fmt.Sprintf("serving model %s on %d workers behind a %s router on %s", c.Model(), len(c.Workers()), p, baseURL(addr))
	})
}

// clusterRecord is one line of --requests output of a cluster replay.
type clusterRecord struct {
	Policy string `json:"policy"`
	Worker int    `json:"worker"`
	replayRecord
}

// policyOutcome is one policy's replay, summed up.
type policyOutcome struct {
	policy          mock.RouterPolicy
	st              mock.ClusterReplayStats
	ttft, tpot, e2e []float64 // ms
}

// clusterReplay replays the trace once per --router policy, on the virtual clock, and
// prints one row per policy.
func clusterReplay(ctx context.Context, o mockOptions, stdout, stderr io.Writer) (int, error) {
	if o.trace == "" {
		return 2, fmt.Errorf("replay needs --trace FILE")
	}
	if o.cfg.UnlimitedKVCache && o.cfg.MaxModelLen == 0 {
		o.cfg.MaxModelLen = 1 << 20
	}
	policies := o.cluster.policies
	if len(policies) == 0 {
		policies = []mock.RouterPolicy{mock.RouteRoundRobin}
	}
	for _, p := range policies {
		if err := o.cluster.config(o.cfg, p).Validate(); err != nil {
			return 2, err
		}
	}
	rec, closeRec, err := requestsOut(o, stdout)
	if err != nil {
		return 1, err
	}
	defer closeRec()
	var outs []policyOutcome
	var werr error
	for _, p := range policies {
		out := policyOutcome{policy: p}
		start := time.Now()
		st, err := mock.ReplayCluster(o.cluster.config(o.cfg, p), replayRequests(ctx, o), mock.ClusterReplayOptions{}, func(r mock.ClusterReplayResult) {
			if r.Err == nil {
				out.ttft = append(out.ttft, ms(r.TTFT))
				out.e2e = append(out.e2e, ms(r.E2E))
				if r.OutputTokens > 1 {
					out.tpot = append(out.tpot, ms(r.E2E-r.TTFT)/float64(r.OutputTokens-1))
				}
			}
			if rec != nil && werr == nil {
				x := clusterRecord{Policy: string(p), Worker: r.Worker, replayRecord: replayRecord{Index: r.Index, ArrivalMS: ms(r.Arrival),
					PromptTokens: r.PromptTokens, CachedTokens: r.CachedTokens, OutputTokens: r.OutputTokens,
					QueueMS: ms(r.Queue), TTFTMS: ms(r.TTFT), E2EMS: ms(r.E2E), Preemptions: r.Preemptions}}
				if r.Err != nil {
					x.Error = r.Err.Error()
				}
				werr = rec.Encode(x)
			}
		})
		if err != nil {
			return 1, err
		}
		out.st = st
		outs = append(outs, out)
		fmt.Fprintf(stderr, "perfgate mock replay: %s: %d requests simulated in %v\n", p, st.Requests, time.Since(start).Round(10*time.Millisecond))
	}
	if werr != nil {
		return 1, fmt.Errorf("replay: write requests: %w", werr)
	}
	w := stdout
	if o.requests == "-" {
		w = stderr
	}
	printClusterReplay(w, o, outs)
	return 0, nil
}

func printClusterReplay(w io.Writer, o mockOptions, outs []policyOutcome) {
	cfg := o.cluster.config(o.cfg, "")
	fmt.Fprintf(w, "trace        %s\n", o.trace)
	if s := o.cluster.synth; s.Speedup != 0 || s.PrefixLen != 0 || s.PromptLen != 0 || s.PrefixRoots != 0 {
		fmt.Fprintf(w, "synthesized  speedup %g, prefix length x%g, prefix roots %d, prompt length x%g\n",
			max(s.Speedup, 1), max(s.PrefixLen, 1), max(s.PrefixRoots, 1), max(s.PromptLen, 1))
	}
	kv := "unlimited"
	if !o.cfg.UnlimitedKVCache {
		kv = fmt.Sprintf("%d blocks", max(o.cfg.NumGPUBlocks, 0))
		if o.cfg.NumGPUBlocks == 0 {
			kv = fmt.Sprintf("%d blocks", mock.DefaultNumGPUBlocks)
		}
	}
	fmt.Fprintf(w, "cluster      %d workers, KV cache %s each, speedup %g\n", cfg.Workers, kv, max(o.cfg.SpeedupRatio, 1))
	st0 := outs[0].st
	fmt.Fprintf(w, "requests     %d (%d rejected)\n\n", st0.Requests, st0.Rejected)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "policy\thit ratio\tTTFT p50 ms\tp90\tp99\tTPOT p50 ms\tp99\toutput tok/s\tmakespan\tbusiest worker\tpreemptions\t")
	for _, x := range outs {
		busiest, mean := time.Duration(0), time.Duration(0)
		for _, ws := range x.st.Workers {
			busiest = max(busiest, ws.Busy)
			mean += ws.Busy / time.Duration(len(x.st.Workers))
		}
		tps := 0.0
		if x.st.Makespan > 0 {
			tps = float64(x.st.OutputTokens) / x.st.Makespan.Seconds()
		}
		fmt.Fprintf(tw, "%s\t%.2f%%\t%.1f\t%.1f\t%.1f\t%.2f\t%.2f\t%.0f\t%v\t%.2fx mean\t%d\t\n", x.policy, 100*x.st.HitRatio(),
			pct(x.ttft, 0.5), pct(x.ttft, 0.9), pct(x.ttft, 0.99), pct(x.tpot, 0.5), pct(x.tpot, 0.99), tps,
			x.st.Makespan.Round(time.Second), float64(busiest)/float64(max(mean, 1)), x.st.Preemptions)
	}
	tw.Flush()
	for _, x := range outs {
		if x.policy == mock.RouteKV {
			for _, y := range outs {
				if y.policy != mock.RouteKV {
					fmt.Fprintf(w, "\n%s TTFT / kv TTFT: p50 %.2fx, p90 %.2fx; prefix hit ratio kv %.2f%%, %s %.2f%%", y.policy,
						pct(y.ttft, 0.5)/pct(x.ttft, 0.5), pct(y.ttft, 0.9)/pct(x.ttft, 0.9), 100*x.st.HitRatio(), y.policy, 100*y.st.HitRatio())
				}
			}
			fmt.Fprintln(w)
		}
	}
}

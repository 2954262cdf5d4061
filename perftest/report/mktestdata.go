//go:build ignore

// mktestdata writes the example result folders under testdata/ that the report's tests
// and golden files read, from real runs of the simulated engine (backends/mock) on this
// machine:
//
//	gated/    PerfChat: a baseline (NAME.baseline.txt) and a run with decode 20% slower,
//	          with per-request records and the server's gauges sampled every 50 ms
//	          (6 sequences at most, 512 KV blocks: the server queues)
//	sweep/    PerfSweep at concurrency 1, 4, 16, 64 (result files only)
//	ab/       PerfAB: interleaved A/B, B with decode 10% faster
//	history/  PerfHist: 30 gated runs, decode 12% slower from run 19 on
//
// Run it from this folder with `go run mktestdata.go` (about a minute); then
// `go test -run Golden -update` rewrites the golden files from the new data. The figures
// depend on the machine's speed and load: the folders are examples, not baselines.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/perfgate/perfgate/backends/mock"
	"github.com/perfgate/perfgate/fixtures"
	"github.com/perfgate/perfgate/internal/atomicfile"
	"github.com/perfgate/perfgate/perftest"
	"github.com/perfgate/perfgate/perftest/history"
	"github.com/perfgate/perfgate/perftest/internal/prom"
	"github.com/perfgate/perfgate/perftest/internal/robust"
)

var (
	engine   = mock.Config{Model: "sim-llama-8b", SpeedupRatio: 2, Seed: 1}
	workload = fixtures.Synthetic{ISL: 512, ISLStdDev: 64, OSL: 32, Prompts: 48, Seed: 1}
)

func main() {
	ctx := context.Background()
	for _, step := range []struct {
		name string
		run  func(context.Context, string) error
	}{{"gated", gated}, {"sweep", sweep}, {"ab", ab}, {"history", hist}} {
		dir := filepath.Join("testdata", step.name)
		if err := os.RemoveAll(dir); err != nil {
			log.Fatal(err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			log.Fatal(err)
		}
		start := time.Now()
		if err := step.run(ctx, dir); err != nil {
			log.Fatalf("%s: %v", step.name, err)
		}
		log.Printf("%s: written in %v", dir, time.Since(start).Round(time.Millisecond))
	}
}

// server starts a simulator on a loopback port.
func server(cfg mock.Config) (*mock.Server, func(), error) {
	s, err := mock.New(cfg)
	if err != nil {
		return nil, nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	done := make(chan struct{})
	go func() { defer close(done); s.Serve(ln) }()
	for s.BaseURL() == "" { // Serve sets the address
		time.Sleep(time.Millisecond)
	}
	return s, func() { s.Close(); <-done }, nil
}

func execute(ctx context.Context, cfg mock.Config, c perftest.Case) (*perftest.Result, []sample, error) {
	srv, stop, err := server(cfg)
	if err != nil {
		return nil, nil, err
	}
	defer stop()
	c.Target = srv
	w := watch(srv)
	res, err := perftest.Execute(ctx, c, perftest.ExecOptions{Hardware: "cpu"})
	samples := w()
	if err == nil && len(res.Problems) > 0 {
		err = fmt.Errorf("%s: %v", c.Name, res.Problems)
	}
	return res, samples, err
}

func gated(ctx context.Context, dir string) error {
	// Six sequences at most and a small KV cache, so that the server's queue and KV usage
	// show on the timeline.
	cfg := engine
	cfg.MaxNumSeqs, cfg.NumGPUBlocks = 6, 512
	c := perftest.Case{Name: "PerfChat", Workload: workload, Load: perftest.Concurrency(8), Count: 10}
	base, _, err := execute(ctx, cfg, c)
	if err != nil {
		return err
	}
	if err := base.File().WriteFile(filepath.Join(dir, "PerfChat.baseline.txt")); err != nil {
		return err
	}
	slow := cfg
	slow.Profile = mock.DefaultProfile().Scaled(1, 1.2)
	cur, samples, err := execute(ctx, slow, c)
	if err != nil {
		return err
	}
	if _, err := cur.WriteFiles(dir); err != nil {
		return err
	}
	return writeSamples(filepath.Join(dir, "PerfChat.server.jsonl"), cur, samples)
}

func sweep(ctx context.Context, dir string) error {
	cfg := engine
	cfg.SpeedupRatio, cfg.MaxNumSeqs = 10, 32
	for _, n := range []int{1, 4, 16, 64} {
		c := perftest.Case{Name: fmt.Sprintf("PerfSweep/concurrency=%d", n), Count: 3, Load: perftest.Concurrency(n),
			Workload: fixtures.Synthetic{ISL: 1024, ISLStdDev: 128, OSL: 48, Prompts: 96, Seed: 1}}
		res, _, err := execute(ctx, cfg, c)
		if err != nil {
			return err
		}
		if err := res.File().WriteFile(filepath.Join(dir, fmt.Sprintf("PerfSweep_concurrency=%d.txt", n))); err != nil {
			return err
		}
	}
	return nil
}

func ab(ctx context.Context, dir string) error {
	a, stopA, err := server(engine)
	if err != nil {
		return err
	}
	defer stopA()
	fast := engine
	fast.Profile = mock.DefaultProfile().Scaled(1, 0.9)
	b, stopB, err := server(fast)
	if err != nil {
		return err
	}
	defer stopB()
	c := perftest.Case{Name: "PerfAB", Workload: workload, Load: perftest.Concurrency(8), Count: 8}
	ra, rb, err := perftest.RunAB(ctx, c, a, b, perftest.ExecOptions{Hardware: "cpu"})
	if err != nil {
		return err
	}
	if p := append(ra.Problems, rb.Problems...); len(p) > 0 {
		return fmt.Errorf("A/B: %v", p)
	}
	if err := ra.File().WriteFile(filepath.Join(dir, "PerfAB.A.txt")); err != nil {
		return err
	}
	return rb.File().WriteFile(filepath.Join(dir, "PerfAB.B.txt"))
}

func hist(ctx context.Context, dir string) error {
	path := history.Path(dir, "cpu", "PerfHist")
	t0 := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	c := perftest.Case{Name: "PerfHist", Count: 3, Load: perftest.Concurrency(4),
		Workload: fixtures.Synthetic{ISL: 256, OSL: 24, Prompts: 24, Seed: 1}}
	for i := range 30 {
		cfg := engine
		cfg.SpeedupRatio = 4
		if i >= 18 {
			cfg.Profile = mock.DefaultProfile().Scaled(1, 1.12)
		}
		res, _, err := execute(ctx, cfg, c)
		if err != nil {
			return err
		}
		f := res.File()
		e := history.Entry{Time: t0.Add(time.Duration(i) * 6 * time.Hour), Commit: fmt.Sprintf("%07x%033d", 0xc0de000+i, 0),
			Case: f.Name, Hardware: "cpu", N: len(f.Reps), Medians: map[string]float64{}}
		for _, u := range f.Units {
			e.Medians[u] = robust.Median(f.Values(u))
		}
		if err := history.Append(path, e); err != nil {
			return err
		}
	}
	return nil
}

// sample is one scrape of the server's gauges.
type sample struct {
	at     time.Time
	values map[string]float64
}

// watch scrapes the server's gauges every 50 ms until the returned function is called.
func watch(srv *mock.Server) func() []sample {
	var (
		mu  sync.Mutex
		out []sample
		wg  sync.WaitGroup
	)
	quit := make(chan struct{})
	names := srv.MetricNames()
	wg.Go(func() {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case now := <-t.C:
				resp, err := http.Get(srv.MetricsURL())
				if err != nil {
					continue
				}
				sc, err := prom.Parse(io.LimitReader(resp.Body, 16<<20))
				resp.Body.Close()
				if err != nil {
					continue
				}
				v := map[string]float64{}
				for _, k := range []string{"waiting", "kv-usage"} {
					if x, ok := sc[names[k]]; ok {
						v[k] = x
					}
				}
				mu.Lock()
				out = append(out, sample{now, v})
				mu.Unlock()
			}
		}
	})
	return func() []sample {
		close(quit)
		wg.Wait()
		return out
	}
}

// writeSamples writes the samples taken during each repetition as NAME.server.jsonl, with
// times from the repetition's start, repetitions numbered from 1 as the records are.
func writeSamples(path string, res *perftest.Result, samples []sample) error {
	return atomicfile.Write(path, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		for i, rep := range res.Reps {
			end := rep.Start.Add(rep.Wall + 100*time.Millisecond)
			for _, s := range samples {
				if s.at.Before(rep.Start) || s.at.After(end) {
					continue
				}
				line := map[string]any{"rep": i + 1, "t_ns": s.at.Sub(rep.Start).Nanoseconds()}
				for _, k := range slices.Sorted(maps.Keys(s.values)) {
					line[k] = s.values[k]
				}
				if err := enc.Encode(line); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

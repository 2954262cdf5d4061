// Package sweep shows a concurrency sweep: the same case at several loads, one result file
// per point and, with -perf.out, a throughput/latency plot (package plot). It does not
// gate; a sweep is for finding where a deployment saturates. Run it with:
//
//	go test -run Sweep -v ./examples/sweep -perf.out out/sweep
package sweep

import (
	"path/filepath"
	"testing"

	"github.com/perfgate/perfgate/backends/mock"
	"github.com/perfgate/perfgate/fixtures"
	"github.com/perfgate/perfgate/perftest"
	"github.com/perfgate/perfgate/perftest/metric"
	"github.com/perfgate/perfgate/perftest/plot"
)

func TestSweepConcurrency(t *testing.T) {
	srv := mock.Start(t, mock.Config{Model: "sim-llama-8b", SpeedupRatio: 10, MaxNumSeqs: 64})
	results := perftest.Sweep(t, perftest.Case{
		Workload: fixtures.Synthetic{ISL: 1024, ISLStdDev: 128, OSL: 48, Prompts: 96, Seed: 1},
		Target:   srv,
		Count:    2,
	}, perftest.ConcurrencySweep(1, 4, 16, 64, 128)...)
	// Past the engine's 64 sequences, more concurrency only queues: throughput stops growing
	// and TTFT climbs. Below them it grows, where the machine has the CPU to serve both the
	// simulator and the client: under the race detector, or beside other work, both run out
	// of cores first, and the figures say that instead.
	tok := func(i int) float64 { return results[i].Value("tok/s")[0] }
	t.Logf("throughput: %.0f tok/s at concurrency 4, %.0f at 64", tok(1), tok(3))
	switch busy := busiest(results); {
	case perftest.RaceEnabled:
		t.Log("growth not checked: timings under -race describe the detector")
	case busy > 0.5:
		t.Logf("growth not checked: other processes used %.1f cores during the sweep", busy)
	case tok(3) < 2*tok(1):
		t.Errorf("throughput should grow with concurrency below saturation: %.0f tok/s at 4, %.0f at 64", tok(1), tok(3))
	}
	if dir := perftest.OutDir(); dir != "" {
		path := filepath.Join(dir, "SweepConcurrency.sweep.png")
		if err := plot.Sweep(path, results); err != nil {
			t.Error(err)
		}
		t.Logf("sweep plot: %s", path)
	}
}

// busiest is the most CPU other processes used in any repetition of the sweep, in cores.
func busiest(results []*perftest.Result) float64 {
	most := 0.0
	for _, r := range results {
		for _, v := range r.Value(metric.MachineOthersCPU) {
			most = max(most, v)
		}
	}
	return most
}

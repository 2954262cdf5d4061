// Package quickstart is the smallest complete perf case: it starts the built-in simulated
// engine, replays a synthetic workload at a fixed concurrency, and gates the result against
// a committed baseline. Run it with:
//
//	go test -run Perf -v ./examples/quickstart
//
// and re-record the baseline after an intended change with:
//
//	go test -run Perf ./examples/quickstart -perf.update
package quickstart

import (
	"testing"

	"github.com/perfgate/perfgate/backends/mock"
	"github.com/perfgate/perfgate/fixtures"
	"github.com/perfgate/perfgate/perftest"
)

func TestPerfQuickstart(t *testing.T) {
	srv := mock.Start(t, mock.Config{Model: "sim-llama-8b", SpeedupRatio: 2})
	res := perftest.Run(t, perftest.Case{
		Target:   srv,
		Workload: fixtures.Synthetic{ISL: 512, ISLStdDev: 64, OSL: 32, Prompts: 48, Seed: 1},
		Load:     perftest.Concurrency(8),
	})
	res.Gate(t, "../../baselines/cpu/PerfQuickstart.txt")
}

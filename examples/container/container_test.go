// Package container is a perf case against a backend container: it builds the simulator
// image from this repository (a static binary in a FROM scratch image, no registry needed),
// starts it through testcontainers-go with vLLM-style flags, replays a KV-prefix sharing
// workload, and gates on a committed baseline. On a GPU runner the same case runs against
// vllm.Start, sglang.Start, trtllm.Start or dynamo.Start with a real model. Run it with:
//
//	go test -run Perf -v ./examples/container
//
// It skips, saying why, where no Docker engine is reachable.
package container

import (
	"testing"

	"github.com/perfgate/perfgate/backends/mockcontainer"
	"github.com/perfgate/perfgate/fixtures"
	"github.com/perfgate/perfgate/perftest"
)

func TestPerfSimulatorContainerSharedPrefix(t *testing.T) {
	srv := mockcontainer.Start(t, mockcontainer.Config{
		MaxNumSeqs: 64,
		Args:       []string{"--block-size", "16", "--speedup-ratio", "2"},
	})
	res := perftest.Run(t, perftest.Case{
		Target: srv,
		// Half of every 2,048-token prompt is one of four shared prefixes: after the first
		// request of each prefix, 1,024 tokens come from the prefix cache.
		Workload: fixtures.SharedPrefix{ISL: 2048, OSL: 32, PrefixRatio: 0.5, NumPrefixes: 4, Prompts: 48, Seed: 1},
		Load:     perftest.Concurrency(8),
	})
	// The server's own prefix-cache counters show the sharing the workload was built for.
	for _, hit := range res.Value("server-prefix-hit-ratio") {
		if hit < 0.40 {
			t.Errorf("server prefix-cache hit ratio %.2f; the workload shares about half of each prompt", hit)
		}
	}
	res.Gate(t, "../../baselines/cpu/PerfSimulatorContainerSharedPrefix.txt")
}

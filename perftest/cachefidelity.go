package perftest

import (
	"sync"

	"github.com/perfgate/perfgate/fixtures"
	"github.com/perfgate/perfgate/perftest/attrib"
	"github.com/perfgate/perfgate/perftest/metric"
)

// designBlock is the block size the designed prefix hit ratio counts in: vLLM's and the
// simulator's default.
const designBlock = 16

// designs holds each workload's designed prefix reuse by fingerprint: a workload is
// streamed once per process however many sessions run it.
var designs sync.Map // fingerprint -> designStats

type designStats struct {
	stats fixtures.Stats
	err   error
}

// cacheFidelity is the result's cache-fidelity config value (metric.KeyCacheFidelity):
// the prefix hit ratio the workload was designed to give, from an emptied cache, beside
// the one the server measured in each repetition; "" where the server measured none or
// the workload has no prefixes to tell. A repetition off the design is said once in the
// log.
func (s *Session) cacheFidelity(fingerprint string) string {
	var measured []float64
	for _, rep := range s.result.Reps {
		for _, m := range rep.Metrics {
			if m.Unit == metric.ServerPrefixHitRatio {
				measured = append(measured, m.Value)
			}
		}
	}
	if len(measured) == 0 {
		return ""
	}
	v, ok := designs.Load(fingerprint)
	if !ok {
		st, err := fixtures.WorkloadStats(s.c.Workload, fixtures.StatsOptions{BlockSize: designBlock})
		v, _ = designs.LoadOrStore(fingerprint, designStats{st, err})
	}
	d := v.(designStats)
	if d.err != nil || !d.stats.HasPrefixes {
		return ""
	}
	f := attrib.NewFidelity(d.stats.PrefixHitRatio, designBlock, d.stats.ISLMean, measured)
	if f.Off > 0 {
		s.note(metric.KeyCacheFidelity, "perftest: cache fidelity: the server's prefix hit ratio was off the workload's design in %d of %d repetitions (%s): their latencies measured another cache state than the workload describes", f.Off, f.Reps, f)
	}
	return f.String()
}

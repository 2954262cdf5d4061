package gate

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/perfgate/perfgate/perftest/metric"
	"github.com/perfgate/perfgate/perftest/resultfile"
)

// withParts adds the part-* figures of ttft-p50-sec to every repetition of f, as the runner
// writes them, the queue part on one side only.
func withParts(f *resultfile.File, queue bool) *resultfile.File {
	phases := []string{metric.PhaseLag, metric.PhaseRest}
	if queue {
		phases = append(phases, metric.PhaseQueue)
	}
	for _, ph := range phases {
		f.Units = append(f.Units, metric.Part(metric.TTFTP50, ph))
	}
	for i := range f.Reps {
		for _, ph := range phases {
			f.Reps[i].Metrics = append(f.Reps[i].Metrics, resultfile.Metric{Unit: metric.Part(metric.TTFTP50, ph), Value: 0.001 * float64(i+1)})
		}
	}
	return f
}

// TestPartsAreNotListed: the part-* figures are the attribution's input, not metrics or
// machine figures: no row of the table, no warning for a part one side lacks.
func TestPartsAreNotListed(t *testing.T) {
	rep := Compare(withParts(synth(1, 10, nil), true), withParts(synth(2, 10, map[string]float64{"itl-p50-sec": 0.20}), false), testOptions)
	for _, d := range rep.Deltas {
		assert.False(t, metric.IsPart(d.Unit), "%s is listed", d.Unit)
	}
	assert.Empty(t, rep.Warnings)
	var b strings.Builder
	assert.NoError(t, rep.WriteText(&b))
	assert.NotContains(t, b.String(), metric.PartPrefix)
	assert.Len(t, rep.Regressions(), 1)
}

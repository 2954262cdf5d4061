package gate

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/internal/golden"
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

// TestAttributionGolden: two runs of a shared-prefix case against the simulator, the second
// with its prefix cache off (perftest/attrib's TestInjectedRegressions wrote them): the
// report says why each flagged latency changed, in every format, and that the prefix hit
// ratio fell.
func TestAttributionGolden(t *testing.T) {
	base, err := resultfile.Read("testdata/prefix-cached.txt")
	require.NoError(t, err)
	cur, err := resultfile.Read("testdata/prefix-uncached.txt")
	require.NoError(t, err)
	rep, err := CompareAsRecorded(base, cur, testOptions)
	require.NoError(t, err)
	require.NotEmpty(t, rep.Regressions())
	require.NotEmpty(t, rep.Attributions)
	for _, a := range rep.Attributions {
		assert.Contains(t, []Verdict{Regression, Inconclusive}, verdicts(rep)[a.Latency], "%s is attributed but not flagged", a.Latency)
	}
	assert.Contains(t, rep.AttributionText(), "server: prefix hit ratio 0.842 → 0 (first suspect")
	for _, format := range []string{"text", "markdown", "json"} {
		var b bytes.Buffer
		require.NoError(t, rep.Write(&b, format))
		golden.Check(t, "attributed."+format+".golden", b.Bytes())
	}
	all := testOptions
	all.AttributeAll = true
	every, err := CompareAsRecorded(base, cur, all)
	require.NoError(t, err)
	assert.Len(t, every.Attributions, len(metric.Parted), "every parted latency, flagged or not")
}

// TestFiguresWithoutParts: a flagged metric without parts (ITL here) still comes with the
// server figures that moved.
func TestFiguresWithoutParts(t *testing.T) {
	with := func(f *resultfile.File, preemptions float64) *resultfile.File {
		f.Units = append(f.Units, metric.ServerPreemptions)
		for i := range f.Reps {
			f.Reps[i].Metrics = append(f.Reps[i].Metrics, resultfile.Metric{Unit: metric.ServerPreemptions, Value: preemptions})
		}
		return f
	}
	rep := Compare(with(synth(1, 10, nil), 0), with(synth(2, 10, map[string]float64{"itl-p50-sec": 0.20}), 31), testOptions)
	require.Len(t, rep.Regressions(), 2)
	assert.Empty(t, rep.Attributions)
	assert.Equal(t, "server: preemptions 0 → 31", rep.AttributionText())
	var b strings.Builder
	require.NoError(t, rep.WriteText(&b))
	assert.Contains(t, b.String(), "\nwhy:\n  server: preemptions 0 → 31\n")
	unflagged := Compare(with(synth(1, 10, nil), 0), with(synth(2, 10, nil), 0), testOptions)
	assert.Empty(t, unflagged.AttributionText())
}

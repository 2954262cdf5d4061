package gate

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// Issue 22: 4+4 repetitions with +200% on every metric passed. No change can be
// significant there (Holm's first step needs p < 0.05/5, and 4+4 reaches 1/70), so every
// metric is UNDECIDED, not a pass; at 10+10 the same change regresses.
func TestTooFewIsUndecided(t *testing.T) {
	shift := map[string]float64{"ttft-p50-sec": 2, "itl-p50-sec": 2, "e2e-p50-sec": 2, "req/s": -0.66}
	rep := Compare(synth(1, 4, nil), synth(2, 4, shift), testOptions)
	assert.Empty(t, rep.Regressions())
	assert.Len(t, rep.Undecideds(), 4)
	assert.Equal(t, "PerfX: UNDECIDED: no regression of 4 metrics can be significant at n=4+4", rep.Title())
	assert.Equal(t, Unchanged, verdicts(rep)["error-rate"], "an all-zero error rate has no relative MDE: not undecided")
	assert.Contains(t, rep.Undecided()[0], "not significant", "the sequential rule runs more repetitions")
	b, err := Undecided.MarshalText()
	assert.NoError(t, err)
	assert.Equal(t, "undecided", string(b))
	js, err := rep.MarshalJSON()
	assert.NoError(t, err)
	assert.Contains(t, string(js), `"undecided":4`)

	rep = Compare(synth(1, 10, nil), synth(2, 10, shift), testOptions)
	assert.Len(t, rep.Regressions(), 4)
	assert.Empty(t, rep.Undecideds())
}

package gate

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/perftest/metric"
	"github.com/perfgate/perfgate/perftest/resultfile"
)

// A file records what the gate decided with, and a comparison of the files decides with
// the same, unless the caller sets a level or a threshold of its own.
func TestDecisionConfigRoundTrip(t *testing.T) {
	base, err := resultfile.Read("testdata/base.txt")
	require.NoError(t, err)
	cur, err := resultfile.Read("testdata/slower.txt")
	require.NoError(t, err)
	opt := OptionsFor(nil, 0.01, 0.5)
	kv := DecisionConfig(opt, &Sequential{Looks: []int{5, 10}})
	assert.Equal(t, []resultfile.KV{{Key: metric.KeyLooks, Value: "5,10"}, {Key: metric.KeyAlpha, Value: "0.01"}, {Key: metric.KeyThreshold, Value: "0.5"}}, kv)
	assert.Equal(t, "default", DecisionConfig(OptionsFor(nil, 0, 0), nil)[1].Value)

	recorded := *cur
	recorded.Config = append(append([]resultfile.KV(nil), cur.Config...), kv[1:]...)
	plain, err := CompareAsRecorded(base, cur, OptionsFor(nil, 0, 0))
	require.NoError(t, err)
	require.NotEmpty(t, plain.Regressions(), "slower.txt regresses at the default thresholds")
	got, err := CompareAsRecorded(base, &recorded, OptionsFor(nil, 0, 0))
	require.NoError(t, err)
	assert.Empty(t, got.Regressions(), "at the recorded threshold of 50%, nothing regresses")
	assert.Equal(t, 0.01, got.Alpha)
	assert.Equal(t, 0.5, got.Deltas[0].ConfiguredThreshold)
	over, err := CompareAsRecorded(base, &recorded, OptionsFor(nil, 0.05, 0.05))
	require.NoError(t, err)
	assert.NotEmpty(t, over.Regressions(), "a level and threshold given override the recorded ones")

	for _, bad := range []resultfile.KV{{Key: metric.KeyAlpha, Value: "2"}, {Key: metric.KeyThreshold, Value: "-1"}, {Key: metric.KeyThreshold, Value: "x"}} {
		f := *cur
		f.Config = append(append([]resultfile.KV(nil), cur.Config...), bad)
		_, err := CompareAsRecorded(base, &f, OptionsFor(nil, 0, 0))
		assert.ErrorContains(t, err, "config "+bad.Key, bad.Value)
	}
}

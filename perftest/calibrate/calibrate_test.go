package calibrate

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCalibrate checks that calibration runs and reports sane, self-consistent figures.
// The figures themselves are machine-dependent: BenchmarkCalibrate and `perfgate calibrate`
// report them; README records them.
func TestCalibrate(t *testing.T) {
	cal, err := Run(t.Context(), Options{Streams: []int{1, 8}, Tokens: 8, TTFT: 5 * time.Millisecond,
		ITL: 2 * time.Millisecond, Rate: 200, PacingRequests: 50, MemoryStreams: 50})
	require.NoError(t, err)
	require.Len(t, cal.Accuracy, 2)
	for _, a := range cal.Accuracy {
		assert.Equal(t, 4*a.Streams*8, a.Tokens, "every token of every request compared")
		assert.GreaterOrEqual(t, a.TTFTBias, time.Duration(0), "a chunk cannot arrive before it was flushed")
		assert.Less(t, a.TTFTBias, time.Second)
	}
	assert.InDelta(t, 200, cal.RequestedRate, 1e-6)
	assert.Positive(t, cal.AchievedRate)
	assert.Positive(t, cal.MemoryPerStream)
	var sb strings.Builder
	require.NoError(t, cal.WriteText(&sb))
	assert.Contains(t, sb.String(), "TTFT p99 error")
	assert.Contains(t, sb.String(), "per in-flight stream")
}

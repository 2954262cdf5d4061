package calibrate

import (
	"bytes"
	"testing"
	"time"

	"github.com/perfgate/perfgate/internal/golden"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCalibrate checks that calibration runs in both modes and reports complete,
// self-consistent figures. The figures themselves are machine-dependent, so none is
// checked against a limit: `perfgate calibrate` reports them and docs/benchmarks.md records them.
func TestCalibrate(t *testing.T) {
	for _, mode := range []Mode{Burst, PerStream} {
		t.Run(mode.String(), func(t *testing.T) {
			cal, err := Run(t.Context(), Options{Mode: mode, Streams: []int{1, 8}, Tokens: 8, TTFT: 5 * time.Millisecond,
				ITL: 2 * time.Millisecond, Rate: 200, PacingRequests: 50, MemoryStreams: 50})
			require.NoError(t, err)
			require.Len(t, cal.Accuracy, 2)
			assert.Equal(t, mode, cal.Mode)
			for _, a := range cal.Accuracy {
				assert.Equal(t, 4*a.Streams*8, a.Tokens, "every token of every request compared")
				assert.GreaterOrEqual(t, a.TTFTP99Err, time.Duration(0))
				assert.GreaterOrEqual(t, a.ITLP99Err, time.Duration(0))
				if mode == Burst {
					assert.Positive(t, a.DrainP50, "a step with streams takes time to write them")
					assert.GreaterOrEqual(t, a.DrainP99, a.DrainP50)
				} else {
					assert.Zero(t, a.DrainP99)
				}
			}
			if mode == PerStream {
				for _, a := range cal.Accuracy {
					assert.GreaterOrEqual(t, a.TTFTBias, time.Duration(0), "stamped before the write: no chunk arrives before it")
				}
			}
			assert.InDelta(t, 200, cal.RequestedRate, 1e-6)
			assert.Positive(t, cal.AchievedRate)
			assert.Positive(t, cal.MemoryPerStream)
			assert.Positive(t, cal.ServerMemoryPerStream)
		})
	}
}

// TestWriteTextGolden checks the tables byte for byte.
func TestWriteTextGolden(t *testing.T) {
	cal := &Calibration{
		Accuracy: []Accuracy{
			{Streams: 1, Tokens: 256, TTFTBias: 204 * time.Microsecond, TTFTP99Err: 77 * time.Microsecond, ITLBias: -300 * time.Nanosecond,
				ITLP99Err: 92 * time.Microsecond, DrainP50: 21 * time.Microsecond, DrainP99: 48 * time.Microsecond},
			{Streams: 512, Tokens: 131072, TTFTBias: 760123 * time.Nanosecond, TTFTP99Err: 8912345 * time.Nanosecond, ITLBias: -712 * time.Nanosecond,
				ITLP99Err: 5612345 * time.Nanosecond, DrainP50: 3123456 * time.Nanosecond, DrainP99: 4987654 * time.Nanosecond},
			{Streams: 2048, Tokens: 524288, TTFTBias: 1234567890, TTFTP99Err: 123456789, ITLBias: 0, ITLP99Err: 23456789,
				DrainP50: 12345678, DrainP99: 19876543},
		},
		RequestedRate: 2000, AchievedRate: 1999.96, LagP50: 83 * time.Microsecond, LagP99: 412 * time.Microsecond,
		MemoryPerStream: 15.5 * 1024, ServerMemoryPerStream: 11.25 * 1024, MemoryStreams: 1000,
	}
	for _, mode := range []Mode{Burst, PerStream} {
		cal.Mode = mode
		var b bytes.Buffer
		require.NoError(t, cal.WriteText(&b))
		golden.Check(t, "calibration-"+mode.String()+".txt", b.Bytes())
	}
}

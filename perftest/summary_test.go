package perftest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestRecordClampsToHistogramRange(t *testing.T) {
	h := newHist()
	record(h, 2*time.Hour)
	record(h, 0)
	assert.Equal(t, int64(2), h.TotalCount(), "out-of-range latencies are clamped, not dropped")
}

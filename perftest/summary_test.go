package perftest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/perfgate/perfgate/fixtures"
)

func TestRecordClampsToHistogramRange(t *testing.T) {
	h := newHist()
	record(h, 2*time.Hour)
	record(h, 0)
	assert.Equal(t, int64(2), h.TotalCount(), "out-of-range latencies are clamped, not dropped")
}

func TestInputOffWithUncountedParts(t *testing.T) {
	for _, tc := range []struct {
		name      string
		got, want int
		extra     bool
		off       bool
	}{
		{"exact", 512, 512, false, false},
		{"template", 540, 512, false, false},
		{"far over", 900, 512, false, true},
		{"far under", 100, 512, false, true},
		{"tools over", 900, 512, true, false},
		{"tools under", 100, 512, true, true},
	} {
		r := Record{Outcome: OK, InputTokens: tc.got, WantInput: tc.want, InputExtra: tc.extra}
		assert.Equal(t, tc.off, r.inputOff(), tc.name)
	}
	assert.True(t, uncounted(&fixtures.Request{Tools: []fixtures.Tool{{Name: "f"}}}))
	assert.True(t, uncounted(&fixtures.Request{Messages: []fixtures.Message{{Role: "user", Images: []string{"data:"}}}}))
	assert.False(t, uncounted(&fixtures.Request{Messages: []fixtures.Message{{Role: "user", Content: "hi"}}}))
}

package report

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/perftest"
	"github.com/perfgate/perfgate/perftest/metric"
	"github.com/perfgate/perfgate/perftest/resultfile"
)

// TestTimelineReadsWhatPerftestWrites: the timeline shows the typical repetition's own
// requests from the records file perftest writes (repetitions numbered from 1), whichever
// repetition is typical, the first included.
func TestTimelineReadsWhatPerftestWrites(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rates []float64 // tok/s of each repetition
		want  int       // the typical repetition, from 0
	}{
		{"first", []float64{100, 90, 110}, 0},
		{"middle", []float64{90, 100, 110}, 1},
		{"last", []float64{90, 110, 100}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := &perftest.Result{Name: "PerfTimeline", Config: []resultfile.KV{{Key: "backend", Value: "mock"}}}
			for i, rate := range tc.rates {
				rep := perftest.Repetition{Start: time.Unix(1000+int64(i), 0), Requests: 2,
					Outcomes: map[perftest.Outcome]int{perftest.OK: 2},
					Metrics:  []resultfile.Metric{{Unit: metric.TokenRate, Value: rate}}}
				for j := range 2 {
					rec := reasoningRecord(j)
					rec.Index = 10*i + j // which repetition the request belongs to
					rep.Records = append(rep.Records, rec)
				}
				res.Reps = append(res.Reps, rep)
			}
			dir := t.TempDir()
			_, err := res.WriteFiles(dir)
			require.NoError(t, err)
			r, err := Load(dir, Options{})
			require.NoError(t, err)
			assert.Empty(t, r.Notes)
			require.Len(t, r.Cases, 1)
			tl := r.Cases[0].Timeline
			require.NotNil(t, tl, "a timeline")
			assert.Equal(t, tc.want, tl.Rep)
			assert.Equal(t, 6, tl.Requests)
			require.Len(t, tl.Records, 2)
			for j, rec := range tl.Records {
				assert.Equal(t, 10*tc.want+j, rec.Index, "the typical repetition's own requests")
				assert.Equal(t, "r3a2", rec.Kinds, "reasoning and answer tokens apart")
			}
		})
	}
}

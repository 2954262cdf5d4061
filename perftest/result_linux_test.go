package perftest

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/internal/fullfs"
	"github.com/perfgate/perfgate/perftest/metric"
	"github.com/perfgate/perfgate/perftest/resultfile"
)

// TestWriteFilesOnAFullDiskKeepsThePreviousSet: a full disk while the records are written
// leaves the previous result and its records, never the new result beside the old records
// (whose timeline the report would draw under the new numbers).
func TestWriteFilesOnAFullDiskKeepsThePreviousSet(t *testing.T) {
	fullfs.Run(t, 512<<10, func(t *testing.T, dir string) {
		path, err := resultWith(0.010, 10).WriteFiles(dir)
		require.NoError(t, err)
		records := filepath.Join(dir, "PerfFull.records.jsonl")
		oldResult, _ := os.ReadFile(path)
		oldRecords, _ := os.ReadFile(records)
		fullfs.Fill(t, dir, 16<<10)

		_, err = resultWith(0.020, 2000).WriteFiles(dir)
		require.Error(t, err, "2,000 records do not fit in 16 KiB")
		assert.ErrorContains(t, err, "PerfFull.records.jsonl")
		newResult, _ := os.ReadFile(path)
		newRecords, _ := os.ReadFile(records)
		assert.Equal(t, string(oldResult), string(newResult), "the previous result is kept")
		assert.Equal(t, len(oldRecords), len(newRecords), "the previous records are kept")
		left, _ := filepath.Glob(filepath.Join(dir, ".*tmp*"))
		assert.Empty(t, left, "no temporary file left behind")
	})
}

// resultWith is a one-repetition result of n requests whose TTFT median is ttft.
func resultWith(ttft float64, n int) *Result {
	rep := Repetition{Requests: n, Outcomes: map[Outcome]int{OK: n},
		Metrics: []resultfile.Metric{{Unit: metric.TTFTP50, Value: ttft}, {Unit: metric.ErrorRate, Value: 0}}}
	for i := range n {
		d := time.Duration(ttft * float64(time.Second))
		rep.Records = append(rep.Records, Record{Index: i, FirstToken: d, Done: 2 * d, Tokens: []time.Duration{d, 2 * d}, Chunks: 2, Outcome: OK})
	}
	return &Result{Name: "PerfFull", Reps: []Repetition{rep}}
}

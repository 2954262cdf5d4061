package report

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/perftest"
	"github.com/perfgate/perfgate/perftest/metric"
	"github.com/perfgate/perfgate/perftest/resultfile"
)

// reasoningRecord is a request that reasoned for 3 tokens, then answered 2.
func reasoningRecord(i int) perftest.Record {
	ms := time.Millisecond
	return perftest.Record{Index: i, Scheduled: time.Duration(i) * 10 * ms, Sent: ms, FirstToken: 20 * ms, FirstOutput: 26 * ms, Done: 30 * ms,
		Tokens: []time.Duration{20 * ms, 22 * ms, 24 * ms, 26 * ms, 28 * ms}, Kinds: "r3a2", Chunks: 5, OutputTokens: 5,
		StreamedReasoning: 3, ReasoningTokens: 3, ReportsReasoning: true, Outcome: perftest.OK}
}

func TestTimelineReasoningApart(t *testing.T) {
	p := requestPoints([]perftest.Record{reasoningRecord(0), reasoningRecord(1)})
	assert.Len(t, p.itlReasoning, 4, "gaps before the 2nd and 3rd reasoning tokens")
	assert.Len(t, p.itl, 4, "gaps before the first answer token and the next")
	assert.Equal(t, 4, p.reasoningGaps)
	assert.Len(t, p.ttfo, 2)
	assert.Equal(t, 26.0, p.ttfo[0].Y)
	g := timelineFigures(&Timeline{Records: []perftest.Record{reasoningRecord(0)}, Why: "the first repetition"})
	assert.Contains(t, g.Note, "4 inter-token gaps, 2 of them before a reasoning token")
	var legend []string
	for _, l := range g.Legend {
		legend = append(legend, l.Text)
	}
	assert.Contains(t, legend, "inter-token gap before a reasoning token")
	assert.Contains(t, legend, "time to first output token (after reasoning)")

	plain := reasoningRecord(0)
	plain.Kinds, plain.FirstOutput = "", plain.FirstToken
	p = requestPoints([]perftest.Record{plain})
	assert.Empty(t, p.itlReasoning)
	assert.Empty(t, p.ttfo, "without reasoning the first output token is the first token")
}

// TestReportShowsReasoningAndSpec: a folder whose run reasoned and drafted shows TTFO and
// the speculative figures beside the other metrics, and the timeline's reasoning gaps.
func TestReportShowsReasoningAndSpec(t *testing.T) {
	dir := t.TempDir()
	f := &resultfile.File{Name: "PerfThink", Config: []resultfile.KV{{Key: "backend", Value: "mock"}, {Key: "load", Value: "concurrency=2"}}}
	for i := range 5 {
		x := 1 + 0.01*float64(i)
		f.Append(nil, resultfile.Rep{Iters: 2, Metrics: []resultfile.Metric{
			{Unit: metric.TTFTP50, Value: 0.020 * x}, {Unit: metric.TTFOP50, Value: 0.026 * x}, {Unit: metric.TokenRate, Value: 300 * x},
			{Unit: metric.ServerSpecAcceptance, Value: 0.7 * x}, {Unit: metric.ServerSpecPerDraft, Value: 2.1 * x},
		}})
	}
	require.NoError(t, f.WriteFile(filepath.Join(dir, "PerfThink.txt")))
	var recs strings.Builder
	for i := range 10 {
		b, err := json.Marshal(struct {
			Rep int `json:"rep"`
			perftest.Record
		}{i/2 + 1, reasoningRecord(i % 2)})
		require.NoError(t, err)
		recs.Write(append(b, '\n'))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "PerfThink.records.jsonl"), []byte(recs.String()), 0o644))
	r, err := Load(dir, Options{})
	require.NoError(t, err)
	page := writeHTML(t, r)
	for _, s := range []string{metric.TTFOP50, metric.ServerSpecAcceptance, metric.ServerSpecPerDraft,
		"inter-token gap before a reasoning token", "time to first output token (after reasoning)"} {
		assert.True(t, strings.Contains(page, s), "the page shows %q", s)
	}
}

package report

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAttributionShown: a case whose flagged latencies have parts on both sides shows why
// they changed, in report.md and report.html, and no part-* figure as a metric; runs whose
// cache states differ say so before the table of verdicts.
func TestAttributionShown(t *testing.T) {
	dir := t.TempDir()
	for from, to := range map[string]string{"prefix-cached.txt": "PerfPrefix.baseline.txt", "prefix-uncached.txt": "PerfPrefix.txt"} {
		b, err := os.ReadFile(filepath.Join("../gate/testdata", from))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, to), b, 0o644))
	}
	r, err := Load(dir, Options{})
	require.NoError(t, err)
	require.Len(t, r.Cases, 1)
	require.NotNil(t, r.Cases[0].Compare)
	var md strings.Builder
	require.NoError(t, r.WriteMarkdown(&md))
	assert.Contains(t, md.String(), "**Why**\n\n- `ttft-p50-sec` +38.5ms (+176%): prefill +36.3ms")
	cache := strings.Index(md.String(), "**Cache**: the runs' cache states differ: prefix hit ratio 0.842 (as designed, 0.842) in the baseline, 0 (nothing cached")
	assert.Positive(t, cache)
	assert.Less(t, cache, strings.Index(md.String(), "| metric | baseline |"), "the cache states before the verdicts")
	assert.Contains(t, md.String(), "- server: prefix hit ratio 0.842 → 0 (first suspect")
	assert.NotContains(t, md.String(), "part-")
	html := writeHTML(t, r)
	assert.Contains(t, html, "<strong>Why</strong>")
	assert.Contains(t, html, "<code>ttft-p50-sec</code> +38.5ms (+176%): prefill +36.3ms")
	assert.Contains(t, html, "<strong>Cache</strong>: the runs&#39; cache states differ")
	assert.Contains(t, html, "prefix hit ratio 0.842 → 0 (first suspect")
	assert.NotContains(t, html, "part-ttft")
}

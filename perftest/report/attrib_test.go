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
// they changed, in report.md and report.html, and no part-* figure as a metric.
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
	assert.Contains(t, md.String(), "**Why**\n\n- `ttft-p50-sec` +38.2ms (+173%): prefill +36.3ms")
	assert.Contains(t, md.String(), "- server: prefix hit ratio 0.842 → 0 (first suspect")
	assert.NotContains(t, md.String(), "part-")
	html := writeHTML(t, r)
	assert.Contains(t, html, "<strong>Why</strong>")
	assert.Contains(t, html, "<code>ttft-p50-sec</code> +38.2ms (+173%): prefill +36.3ms")
	assert.Contains(t, html, "prefix hit ratio 0.842 → 0 (first suspect")
	assert.NotContains(t, html, "part-ttft")
}

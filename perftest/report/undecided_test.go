package report

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A comparison with too few repetitions for any change to be significant is UNDECIDED, not
// "no regression"; one that shares no gated metric with its baseline is REFUSED. Both are
// what perfgate compare says of the same files (exit 3 and exit 2).
func TestUndecidedAndRefused(t *testing.T) {
	few, err := os.ReadFile("../gate/testdata/few.txt")
	require.NoError(t, err)
	for _, tc := range []struct {
		name, cur string
		want      Verdict
		why       string
	}{
		{"undecided", string(few), Undecided, "no regression of 4 metrics can be significant at 3+3 repetitions"},
		{"refused", strings.ReplaceAll(string(few), "itl-p50-sec", "itl-p99-sec"), Refused, "gated metrics of the baseline are missing from the current run: itl-p50-sec"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(dir, "PerfX.baseline.txt"), few, 0o644))
			require.NoError(t, os.WriteFile(filepath.Join(dir, "PerfX.txt"), []byte(tc.cur), 0o644))
			r, err := Load(dir, Options{})
			require.NoError(t, err)
			require.Len(t, r.Cases, 1)
			v, why := r.Cases[0].Verdict()
			assert.Equal(t, tc.want, v)
			assert.Contains(t, why, tc.why)
			assert.Equal(t, tc.want, r.Verdict())
			assert.True(t, strings.HasPrefix(r.Headline(), tc.want.String()+": 1 of 1"), r.Headline())
		})
	}
}

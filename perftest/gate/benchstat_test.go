package gate

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"maps"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/perf/benchfmt"
	"golang.org/x/perf/benchmath"

	"github.com/perfgate/perfgate/perftest/metric"
	"github.com/perfgate/perfgate/perftest/resultfile"
)

// benchstatPairs are file pairs perfgate wrote: committed test data and a copy of the
// quickstart baseline with a 10% slower itl-p50-sec, written by resultfile.
func benchstatPairs(t *testing.T) [][2]string {
	t.Helper()
	const quickstart = "../../baselines/cpu/PerfQuickstart.txt"
	qs, err := resultfile.Read(quickstart)
	require.NoError(t, err)
	slow := *qs
	slow.Reps = nil
	n := len(qs.Reps)
	for i := range n {
		rep := qs.Reps[(i+3)%n] // another order, as another run would give
		ms := slices.Clone(rep.Metrics)
		for j := range ms {
			if ms[j].Unit == "itl-p50-sec" {
				ms[j].Value *= 1.1
			}
		}
		slow.Reps = append(slow.Reps, resultfile.Rep{Iters: rep.Iters, Metrics: ms})
	}
	path := filepath.Join(t.TempDir(), "PerfQuickstart.txt")
	require.NoError(t, slow.WriteFile(path))
	td := "testdata/"
	return [][2]string{
		{td + "base.txt", td + "slower.txt"},
		{td + "base.txt", td + "same.txt"},
		{td + "base.txt", td + "few.txt"},
		{quickstart, path},
	}
}

// benchmathLikeBenchstat computes, per unit, what cmd/benchstat computes for two files: it
// reads them with benchfmt, makes a benchmath.Sample per file with alpha 0.05, and takes
// AssumeNothing's summary (median) and comparison (U test p).
func benchmathLikeBenchstat(t *testing.T, old, cur string) map[string][3]float64 {
	t.Helper()
	vals := func(path string) map[string][]float64 {
		f, err := os.Open(path)
		require.NoError(t, err)
		defer f.Close()
		out := map[string][]float64{}
		br := benchfmt.NewReader(f, path)
		for br.Scan() {
			if res, ok := br.Result().(*benchfmt.Result); ok {
				for _, v := range res.Values {
					u, x := v.OrigUnit, v.OrigValue
					if u == "" { // benchfmt fills Orig* only for units it normalizes
						u, x = v.Unit, v.Value
					}
					out[u] = append(out[u], x)
				}
			}
		}
		require.NoError(t, br.Err())
		return out
	}
	a, b := vals(old), vals(cur)
	out := map[string][3]float64{}
	for u := range a {
		if metric.IsPart(u) {
			continue // the gate does not list the attribution's parts
		}
		sa := benchmath.NewSample(slices.Clone(a[u]), &benchmath.DefaultThresholds)
		sb := benchmath.NewSample(slices.Clone(b[u]), &benchmath.DefaultThresholds)
		out[u] = [3]float64{benchmath.AssumeNothing.Summary(sa, 0.95).Center, benchmath.AssumeNothing.Summary(sb, 0.95).Center, benchmath.AssumeNothing.Compare(sa, sb).P}
	}
	return out
}

func TestCompareAgreesWithBenchmath(t *testing.T) {
	for _, pair := range benchstatPairs(t) {
		want := benchmathLikeBenchstat(t, pair[0], pair[1])
		base, err := resultfile.Read(pair[0])
		require.NoError(t, err)
		cur, err := resultfile.Read(pair[1])
		require.NoError(t, err)
		rep := Compare(base, cur, testOptions)
		require.Len(t, rep.Deltas, len(want))
		for _, d := range rep.Deltas {
			w := want[d.Unit]
			assert.Equal(t, w[0], d.Base.Center, "%s %s", pair[1], d.Unit)
			assert.Equal(t, w[1], d.Cur.Center, "%s %s", pair[1], d.Unit)
			assert.Equal(t, w[2], d.P, "%s %s: p", pair[1], d.Unit)
		}
	}
}

// TestBenchstatReadsPerfgateFiles runs `go tool benchstat -format csv` on files perfgate
// wrote and checks that it reads every metric and that its medians, deltas and p-values are
// perfgate's.
func TestBenchstatReadsPerfgateFiles(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs go tool benchstat")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	for _, pair := range benchstatPairs(t) {
		cmd := exec.CommandContext(t.Context(), "go", "tool", "benchstat", "-format", "csv", pair[0], pair[1])
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		require.NoError(t, cmd.Run(), "benchstat: %s", stderr.String())
		// benchstat warns about nothing but geomeans of zero, all-equal and small samples.
		for line := range strings.Lines(stderr.String()) {
			assert.Regexp(t, `geomean|all samples are equal|need >= \d+ samples`, line, "benchstat stderr")
		}
		got := parseBenchstatCSV(t, stdout.String())
		maps.DeleteFunc(got, func(u string, _ benchstatRow) bool { return metric.IsPart(u) }) // the gate does not list them
		base, err := resultfile.Read(pair[0])
		require.NoError(t, err)
		cur, err := resultfile.Read(pair[1])
		require.NoError(t, err)
		rep := Compare(base, cur, testOptions)
		require.Len(t, got, len(rep.Deltas), "benchstat shows every metric of %s", pair[1])
		for _, d := range rep.Deltas {
			row, ok := got[d.Unit]
			require.True(t, ok, "benchstat has no table for %s", d.Unit)
			assert.InDelta(t, d.Base.Center, row.old, 1e-12*math.Abs(d.Base.Center)+1e-15, d.Unit)
			assert.InDelta(t, d.Cur.Center, row.new, 1e-12*math.Abs(d.Cur.Center)+1e-15, d.Unit)
			assert.InDelta(t, d.P, row.p, 0.0005, "%s: p (benchstat prints 3 decimals)", d.Unit)
			if row.delta == "~" {
				assert.Greater(t, d.P, 0.05, "%s: benchstat says no significant change", d.Unit)
			} else {
				assert.Equal(t, row.delta, fmt.Sprintf("%+.2f%%", 100*d.Change), d.Unit)
			}
		}
	}
}

type benchstatRow struct {
	old, new, p float64
	delta       string
}

// parseBenchstatCSV reads benchstat's CSV: per unit a header row naming the unit, then one
// row per benchmark: name, old, CI, new, CI, delta, "p=P n=N".
func parseBenchstatCSV(t *testing.T, s string) map[string]benchstatRow {
	t.Helper()
	r := csv.NewReader(strings.NewReader(s))
	r.FieldsPerRecord = -1
	recs, err := r.ReadAll()
	require.NoError(t, err)
	out := map[string]benchstatRow{}
	unit := ""
	for _, rec := range recs {
		if len(rec) < 7 {
			continue
		}
		if rec[0] == "" && rec[2] == "CI" {
			unit = rec[1]
			continue
		}
		if rec[0] == "" || rec[0] == "geomean" || unit == "" {
			continue
		}
		var row benchstatRow
		row.old, err = strconv.ParseFloat(rec[1], 64)
		require.NoError(t, err, rec)
		row.new, err = strconv.ParseFloat(rec[3], 64)
		require.NoError(t, err, rec)
		row.delta = rec[5]
		_, err = fmt.Sscanf(rec[6], "p=%g", &row.p)
		require.NoError(t, err, rec)
		out[unit] = row
	}
	return out
}

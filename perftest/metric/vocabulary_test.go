package metric_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/perftest/gate"
	"github.com/perfgate/perfgate/perftest/metric"
	"github.com/perfgate/perfgate/perftest/report"
	"github.com/perfgate/perfgate/perftest/resultfile"
)

// acceptance is a metric the default vocabulary lacks: speculative decoding's acceptance
// rate, higher better, gated at 10%.
const acceptance = "spec-acceptance-rate"

var acceptanceDef = metric.Def{Name: acceptance, Kind: metric.Fraction, Threshold: 0.10, Server: true,
	Desc: "share of the draft tokens the target model accepted"}

// runFile is a result file of n repetitions of a case measuring TTFT and the acceptance
// rate (about accept), written as the runner writes its files: directions from set.
func runFile(set *metric.Set, seed uint64, n int, accept float64) *resultfile.File {
	rng := rand.New(rand.NewPCG(seed, 1))
	f := &resultfile.File{Name: "PerfSpec", Config: []resultfile.KV{{Key: "backend", Value: "mock"}, {Key: "load", Value: "concurrency=4"}}}
	for range n {
		f.Append(set, resultfile.Rep{Iters: 100, Metrics: []resultfile.Metric{
			{Unit: metric.TTFTP50, Value: 0.020 * (1 + 0.01*rng.NormFloat64())},
			{Unit: acceptance, Value: accept * (1 + 0.01*rng.NormFloat64())},
		}})
	}
	return f
}

// TestAddedMetricIsOneDefinition adds a metric in a vocabulary of the test's own and sees
// it written, parsed, gated and reported with what that one definition says, without a
// change to any package.
func TestAddedMetricIsOneDefinition(t *testing.T) {
	set, err := metric.Default().With(acceptanceDef)
	require.NoError(t, err)
	dir := t.TempDir()
	base, cur := runFile(set, 1, 10, 0.70), runFile(set, 2, 10, 0.55) // 21% fewer drafts accepted

	// Written: its direction from the definition.
	var buf bytes.Buffer
	_, err = cur.WriteTo(&buf)
	require.NoError(t, err)
	assert.Contains(t, buf.String(), "Unit "+acceptance+" better=higher\n")
	require.NoError(t, base.WriteFile(filepath.Join(dir, "PerfSpec.baseline.txt")))
	require.NoError(t, cur.WriteFile(filepath.Join(dir, "PerfSpec.txt")))

	// Parsed: its range is the definition's. The default vocabulary knows only what the
	// file's Unit line says of it.
	read, err := resultfile.Options{Metrics: set}.Read(filepath.Join(dir, "PerfSpec.txt"))
	require.NoError(t, err)
	assert.Equal(t, map[string]bool{metric.TTFTP50: true, acceptance: false}, read.LowerBetter)
	bad := strings.Replace(buf.String(), fmt.Sprintf("%v %s", cur.Reps[0].Metrics[1].Value, acceptance), "1.5 "+acceptance, 1)
	require.NotEqual(t, buf.String(), bad)
	_, err = resultfile.Options{Metrics: set}.Parse(strings.NewReader(bad), "bad.txt")
	assert.ErrorContains(t, err, acceptance+" 1.5: a fraction lies in [0, 1]")
	_, err = resultfile.Parse(strings.NewReader(bad), "bad.txt")
	assert.NoError(t, err, "the default vocabulary does not know the unit's range")

	// Gated: direction and threshold from the definition.
	rep := gate.Compare(base, read, gate.OptionsFor(set, 0, 0))
	var d *gate.Delta
	for i := range rep.Deltas {
		if rep.Deltas[i].Unit == acceptance {
			d = &rep.Deltas[i]
		}
	}
	require.NotNil(t, d, "the gate compares it")
	assert.Equal(t, gate.Regression, d.Verdict)
	assert.False(t, d.LowerBetter)
	assert.Equal(t, 0.10, d.Threshold, "the definition's threshold, not the gate's default 5%")

	// Reported: the report compares it and says what it is.
	r, err := report.Load(dir, report.Options{Metrics: set})
	require.NoError(t, err)
	var md strings.Builder
	require.NoError(t, r.WriteMarkdown(&md))
	assert.Contains(t, md.String(), "REGRESSION: 1 of 1 compared run regressed")
	assert.Contains(t, md.String(), "| `"+acceptance+"` | "+acceptanceDef.Desc+" |")
	assert.Contains(t, md.String(), "| `"+metric.TTFTP50+"` | time to first token", "beside the default vocabulary's")

	// The default vocabulary is as it was.
	_, known := metric.Default().Lookup(acceptance)
	assert.False(t, known)
	r, err = report.Load(dir, report.Options{})
	require.NoError(t, err)
	md.Reset()
	require.NoError(t, r.WriteMarkdown(&md))
	assert.NotContains(t, md.String(), acceptanceDef.Desc)
}

// A tool that writes a metric perfgate does not adds it to a vocabulary and passes that
// to the packages that read one.
func ExampleSet_With() {
	set, err := metric.Default().With(metric.Def{Name: "spec-acceptance-rate", Kind: metric.Fraction, Threshold: 0.10,
		Server: true, Desc: "share of the draft tokens the target model accepted"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	d, _ := set.Lookup("spec-acceptance-rate")
	lo, hi := d.Kind.Range()
	fmt.Printf("%s in [%g, %g], higher better: %v\n", d.Kind, lo, hi, !d.LowerBetter)
	fmt.Printf("gated at %g\n", gate.OptionsFor(set, 0, 0).Units["spec-acceptance-rate"].Threshold)
	// Output:
	// a fraction in [0, 1], higher better: true
	// gated at 0.1
}

package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/internal/golden"
	"github.com/perfgate/perfgate/perftest"
	"github.com/perfgate/perfgate/perftest/resultfile"
)

// TestCompareRefusesBadResults is the table of damaged and hand-edited result files: each
// file in testdata/bad-results/ is refused by perfgate compare, as OLD and as NEW, with
// exit status 2, nothing on stdout, and the message its .stderr golden file holds; and the
// gate (Result.Gate) refuses it as a baseline with the same message.
func TestCompareRefusesBadResults(t *testing.T) {
	t.Setenv("GITHUB_STEP_SUMMARY", "")
	files, err := filepath.Glob("testdata/bad-results/*.txt")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, path := range files {
		name := strings.TrimSuffix(filepath.Base(path), ".txt")
		t.Run(name, func(t *testing.T) {
			code, out, errs := runCmd(t, "compare", path, td+"base.txt")
			assert.Equal(t, 2, code, "exit status")
			assert.Empty(t, out, "stdout")
			golden.Check(t, "bad-results/"+name+".stderr", []byte(errs))
			msg := strings.TrimSuffix(strings.TrimPrefix(errs, "perfgate compare: "), "\n")

			if name == "renamed-units" {
				// A good file on its own: the pair shares no unit.
				assert.Contains(t, msg, "refusing to compare unlike runs")
				assert.Contains(t, gateOn(t, path), "(units): baseline \"ttft_p50_s itl_p50_s e2e_p50_s rps errors\", current \"ttft-p50-sec itl-p50-sec e2e-p50-sec req/s error-rate\"\n")
				return
			}
			code, out, errs2 := runCmd(t, "compare", td+"base.txt", path)
			assert.Equal(t, 2, code, "exit status as NEW")
			assert.Empty(t, out, "stdout as NEW")
			assert.Equal(t, errs, errs2, "the same message as NEW")

			tmp := filepath.Join(t.TempDir(), filepath.Base(path))
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(tmp, data, 0o644))
			assert.Equal(t, "perftest: PerfX: bad baseline: "+strings.ReplaceAll(msg, path, tmp)+" (fix the file, or re-record it with -perf.update)", gateOn(t, tmp))
		})
	}
}

// gateOn runs the gate on baseline with the current run from perftest/gate/testdata's
// base.txt and returns what it failed the test with. -perf.update, -perf.history and
// -perf.summary are off, whatever the environment says.
func gateOn(t *testing.T, baseline string) string {
	t.Helper()
	for k, v := range map[string]string{"perf.update": "false", "perf.history": "", "perf.summary": ""} {
		f := flag.Lookup(k)
		require.NotNil(t, f, k)
		old := f.Value.String()
		require.NoError(t, f.Value.Set(v))
		t.Cleanup(func() { _ = f.Value.Set(old) })
	}
	cur, err := resultfile.Read(td + "base.txt")
	require.NoError(t, err)
	res := &perftest.Result{Name: cur.Name, Config: cur.Config}
	for _, rep := range cur.Reps {
		res.Reps = append(res.Reps, perftest.Repetition{Metrics: rep.Metrics, Requests: rep.Iters})
	}
	tb := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		res.Gate(tb, baseline)
	}()
	<-done
	require.True(t, tb.fatal, "the gate did not refuse %s; it said:\n%s", baseline, tb.String())
	return tb.String()
}

// fatalTB records what the gate says; Fatalf and Skipf end the goroutine, as testing's do.
type fatalTB struct {
	testing.TB
	mu    sync.Mutex
	msgs  []string
	fatal bool
}

func (c *fatalTB) Helper()                   {}
func (c *fatalTB) Logf(f string, a ...any)   {}
func (c *fatalTB) Errorf(f string, a ...any) { c.add(false, f, a...) }
func (c *fatalTB) Fatalf(f string, a ...any) { c.add(true, f, a...); runtime.Goexit() }
func (c *fatalTB) Skipf(f string, a ...any)  { c.add(false, "skipped: "+f, a...); runtime.Goexit() }

func (c *fatalTB) add(fatal bool, f string, a ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.msgs = append(c.msgs, fmt.Sprintf(f, a...))
	c.fatal = c.fatal || fatal
}

func (c *fatalTB) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.msgs, "\n")
}

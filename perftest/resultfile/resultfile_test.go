package resultfile

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/perf/benchfmt"
)

var testConfig = []KV{{"goos", "linux"}, {"backend", "mock"}, {"model", "m"}, {"workload", "synthetic"}, {"fingerprint", "abc"}, {"load", "concurrency=4"}}

func synth(seed uint64, n int) *File {
	rng := rand.New(rand.NewPCG(seed, 1))
	f := &File{Path: "mem", Name: "PerfX", Config: testConfig,
		Units:       []string{"itl-p50-sec", "req/s", "error-rate"},
		LowerBetter: map[string]bool{"itl-p50-sec": true, "req/s": false, "error-rate": true}}
	for range n {
		f.Reps = append(f.Reps, Rep{Iters: 100, Metrics: []Metric{
			{"itl-p50-sec", 0.005 * (1 + 0.01*rng.NormFloat64())}, {"req/s", 30 * (1 + 0.01*rng.NormFloat64())}, {"error-rate", 0}}})
	}
	return f
}

func TestRoundTrip(t *testing.T) {
	f := synth(1, 4)
	var buf bytes.Buffer
	_, err := f.WriteTo(&buf)
	require.NoError(t, err)
	assert.Contains(t, buf.String(), "Unit req/s better=higher\n")
	assert.Contains(t, buf.String(), "Unit itl-p50-sec better=lower\n")
	// benchfmt (what benchstat uses) reads every line without a syntax error.
	br := benchfmt.NewReader(bytes.NewReader(buf.Bytes()), "r.txt")
	n := 0
	for br.Scan() {
		if se, ok := br.Result().(*benchfmt.SyntaxError); ok {
			t.Fatalf("benchfmt: %v", se)
		}
		if res, ok := br.Result().(*benchfmt.Result); ok {
			n++
			assert.Equal(t, "PerfX", res.Name.String())
			assert.Equal(t, "abc", res.GetConfig("fingerprint"))
			assert.Equal(t, 100, res.Iters)
		}
	}
	assert.Equal(t, 4, n)
	got, err := Parse(&buf, "r.txt")
	require.NoError(t, err)
	got.Path = f.Path
	assert.Equal(t, f, got)
	assert.Empty(t, Diff(f, got, "a", "b"))
}

func TestWriteFileAndRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cpu", "PerfX.txt")
	require.NoError(t, synth(1, 3).WriteFile(path))
	f, err := Read(path)
	require.NoError(t, err)
	assert.Len(t, f.Values("req/s"), 3)
	assert.Equal(t, "mock", f.ConfigValue("backend"))
	assert.Equal(t, "", f.ConfigValue("nope"))
	_, err = Read(filepath.Join(t.TempDir(), "missing.txt"))
	assert.ErrorIs(t, err, os.ErrNotExist)
}

func TestParseErrors(t *testing.T) {
	good := "backend: mock\n\nUnit x-sec better=lower\n\nBenchmarkPerfX 10 1.5 x-sec 2 req/s\nBenchmarkPerfX 10 1.6 x-sec 2.1 req/s\n"
	for _, tc := range []struct{ name, in, want string }{
		{"bad value", strings.Replace(good, "1.6 x-sec", "1.6x x-sec", 1), "b.txt:6: "},
		{"truncated line", strings.Replace(good, " 2.1 req/s", " 2.", 1), "b.txt:6: "},
		{"line cut between fields", strings.Replace(good, " 2.1 req/s", "", 1), `b.txt:6: line ends with unit "x-sec" where the first result ends with "req/s"`},
		{"other case", strings.Replace(good, "BenchmarkPerfX 10 1.6", "BenchmarkPerfY 10 1.6", 1), `b.txt:6: benchmark "PerfY" differs`},
		{"config change", strings.Replace(good, "BenchmarkPerfX 10 1.6", "backend: vllm\nBenchmarkPerfX 10 1.6", 1), "b.txt:7: config lines change"},
		{"empty", "backend: mock\n", "b.txt: no benchmark result lines"},
		{"not finite", strings.Replace(good, "1.6 x-sec", "NaN x-sec", 1), "not finite"},
		{"twice", strings.Replace(good, "2.1 req/s", "2.1 x-sec", 1), `unit "x-sec" appears twice`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tc.in), "b.txt")
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	f, err := Parse(strings.NewReader(good), "b.txt")
	require.NoError(t, err)
	assert.Equal(t, map[string]bool{"x-sec": true}, f.LowerBetter, "req/s has no better= line")
	assert.Equal(t, []float64{2, 2.1}, f.Values("req/s"))
}

func TestDiffIsDeterministicAndNamesBothValues(t *testing.T) {
	a := synth(1, 1)
	b := synth(1, 1)
	b.Config = []KV{{"goos", "darwin"}, {"backend", "vllm"}, {"model", "m"}, {"workload", "synthetic"}, {"fingerprint", "def"}, {"api", "chat"}}
	want := "" +
		"  api: baseline absent, current \"chat\"\n" +
		"  backend: baseline \"mock\", current \"vllm\"\n" +
		"  fingerprint: baseline \"abc\", current \"def\"\n" +
		"  load: baseline \"concurrency=4\", current absent\n"
	for range 20 { // map iteration order must not show
		assert.Equal(t, want, Diff(a, b, "baseline", "current"))
	}
	// The hardware class counts only when both sides record it.
	b.Config = append(append([]KV(nil), testConfig...), KV{HardwareKey, "nvidia-h100"})
	assert.Empty(t, Diff(a, b, "baseline", "current"))
	a.Config = append(append([]KV(nil), testConfig...), KV{HardwareKey, "cpu"})
	assert.Equal(t, "  hardware: baseline \"cpu\", current \"nvidia-h100\"\n", Diff(a, b, "baseline", "current"))
	b.Name = "PerfY"
	assert.Contains(t, Diff(a, b, "A", "B"), "  (case): A \"PerfX\", B \"PerfY\"\n")
}

func FuzzParse(f *testing.F) {
	var buf bytes.Buffer
	_, _ = synth(1, 3).WriteTo(&buf)
	f.Add(buf.Bytes())
	f.Add([]byte("key: v\nBenchmarkA 1 2 ns/op\nBenchmarkA 1 x ns/op\n"))
	f.Add([]byte("Unit a better=higher\nBenchmarkA/b=1 3 4 a\n"))
	f.Add([]byte("BenchmarkA 1 2 x-sec 3 y\nBenchmarkA 1 2 x-sec\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		rf, err := Parse(bytes.NewReader(in), "fuzz.txt")
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.txt") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		for _, u := range rf.Units {
			if len(rf.Values(u)) == 0 {
				t.Fatalf("unit %s listed without values", u)
			}
		}
		// What it read, it writes back readably.
		var out bytes.Buffer
		if _, err := rf.WriteTo(&out); err != nil {
			t.Fatal(err)
		}
		if _, err := Parse(&out, "again.txt"); err != nil {
			t.Fatalf("re-reading what was written: %v\n%s", err, out.String())
		}
	})
}

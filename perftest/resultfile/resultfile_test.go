package resultfile

import (
	"bytes"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/perf/benchfmt"

	"github.com/perfgate/perfgate/perftest/metric"
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
		{"bad value", strings.Replace(good, "1.6 x-sec", "1.6x x-sec", 1), "b.txt:6: parsing measurement: invalid syntax"},
		{"truncated line", strings.TrimSuffix(strings.Replace(good, " 2.1 req/s", " 2.", 1), "\n"),
			"b.txt:6: missing units; the file ends inside this line, without a newline: cut short?"},
		{"line cut between fields", strings.Replace(good, " 2.1 req/s", "", 1),
			`b.txt:6: line ends with unit "x-sec" where the first result line ends with "req/s": a line cut short, or edited?`},
		{"other case", strings.Replace(good, "BenchmarkPerfX 10 1.6", "BenchmarkPerfY 10 1.6", 1), `b.txt:6: benchmark "PerfY" differs from "PerfX": one file holds one case`},
		{"config change", strings.Replace(good, "BenchmarkPerfX 10 1.6", "backend: vllm\nBenchmarkPerfX 10 1.6", 1), "b.txt:7: config lines change within the file: one file holds one setup"},
		{"empty", "backend: mock\n", "b.txt: no benchmark result lines"},
		{"only junk", "PASS\nok  \tpkg\t0.1s\n", "b.txt: no benchmark result lines"},
		{"not finite", strings.Replace(good, "1.6 x-sec", "NaN x-sec", 1), "b.txt:6: x-sec NaN: a value must be a finite number"},
		{"infinite", strings.Replace(good, "2.1 req/s", "+Inf req/s", 1), "b.txt:6: req/s +Inf: a value must be a finite number"},
		{"twice", strings.Replace(good, "2.1 req/s", "2.1 x-sec", 1), `b.txt:6: unit "x-sec" appears twice`},
		{"negative latency", strings.Replace(good, "2 req/s", "-0.5 ttft-p50-sec 2 req/s", 1), "b.txt:5: ttft-p50-sec -0.5: a latency cannot be negative"},
		{"negative rate", strings.Replace(good, "2.1 req/s", "-2.1 req/s", 1), "b.txt:6: req/s -2.1: a rate cannot be negative"},
		{"error rate over 1", strings.Replace(good, "2.1 req/s", "2.1 req/s 1.5 error-rate", 1), "b.txt:6: error-rate 1.5: a fraction lies in [0, 1]"},
		{"negative error rate", strings.Replace(good, "2.1 req/s", "2.1 req/s -0.1 error-rate", 1), "b.txt:6: error-rate -0.1: a fraction lies in [0, 1]"},
		{"negative iterations", strings.Replace(good, "BenchmarkPerfX 10 1.6", "BenchmarkPerfX -10 1.6", 1), "b.txt:6: iteration count -10: the requests of a repetition cannot be negative"},
		{"a prefix alone is no figure", strings.Replace(good, "2.1 req/s", "2.1 req/s 3 gpu-", 1), `b.txt:6: unit "gpu-" is not one perfgate writes, and no "Unit gpu- better=lower|higher" line gives its direction`},
		{"unknown unit", strings.Replace(good, "2.1 req/s", "2.1 rps", 1), `b.txt:6: unit "rps" is not one perfgate writes, and no "Unit rps better=lower|higher" line gives its direction`},
		{"unit cut short", strings.Replace(good, "x-sec 2 req/s", "x-s", 1),
			`b.txt:5: unit "x-s" is not one perfgate writes, and no "Unit x-s better=lower|higher" line gives its direction: "x-sec" cut short?`},
		{"known unit cut short", "BenchmarkPerfX 10 0.5 ttft-p", `b.txt:1: unit "ttft-p" is not one perfgate writes, and no "Unit ttft-p better=lower|higher" line gives its direction: "ttft-p50-sec" cut short?; the file ends inside this line, without a newline`},
		{"direction reversed", strings.Replace(good, "\nBench", "Unit req/s better=lower\n\nBench", 1),
			"b.txt:4: Unit req/s better=lower: perfgate knows higher req/s is better; a file cannot reverse a known unit's direction (fix or remove the line)"},
		{"direction unknown", strings.Replace(good, "better=lower", "better=down", 1), "b.txt:3: Unit x-sec better=down: better is higher or lower"},
		{"direction set twice", strings.Replace(good, "\nBench", "Unit x-sec better=higher\nBench", 1), "b.txt:4: metadata better of unit x-sec already set to lower"},
		{"trailing junk", good + "PASS\n", `b.txt:7: "PASS" is not a result, Unit or config line: a result file holds nothing else (an edit, a merge conflict, or files run together?)`},
		{"merge conflict", strings.Replace(good, "BenchmarkPerfX 10 1.6", "<<<<<<< HEAD\nBenchmarkPerfX 10 1.6", 1), `b.txt:6: "<<<<<<< HEAD" is not a result, Unit or config line: a result file holds nothing else (an edit, a merge conflict, or files run together?)`},
		{"byte order mark", "\ufeff" + good, `b.txt:1: "\ufeffbackend: mock" is not a result, Unit or config line: a result file holds nothing else (an edit, a merge conflict, or files run together?)`},
		{"name alone", good + "BenchmarkPerfX", `b.txt:7: "BenchmarkPerfX" is a benchmark name without values: a result line cut short?; the file ends inside this line, without a newline`},
		{"only line cut between fields", "Unit x-sec better=lower\nUnit req/s better=higher\nBenchmarkPerfX 10 1.5 x-sec",
			"b.txt:3: the line lacks req/s, which the file's Unit lines declare; the file ends inside this line, without a newline: cut short?"},
		{"earliest problem wins", strings.Replace(good, "2.1 req/s", "-2.1 req/s", 1) + "junk\n", "b.txt:6: req/s -2.1: a rate cannot be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tc.in), "b.txt")
			require.Error(t, err)
			assert.Equal(t, tc.want, err.Error())
			var se *SyntaxError
			assert.ErrorAs(t, err, &se)
		})
	}
	f, err := Parse(strings.NewReader(good), "b.txt")
	require.NoError(t, err)
	assert.Equal(t, map[string]bool{"x-sec": true}, f.LowerBetter, "req/s has no better= line")
	assert.Equal(t, []float64{2, 2.1}, f.Values("req/s"))
}

// TestParseAccepts lists what the checks must let through.
func TestParseAccepts(t *testing.T) {
	for _, tc := range []struct{ name, in string }{
		{"CRLF line endings", "backend: mock\r\n\r\nBenchmarkPerfX 10 1.5 ttft-p50-sec 2 req/s\r\n"},
		{"a last line without newline that is whole", "Unit req/s better=higher\nBenchmarkPerfX 10 1.5 ttft-p50-sec 2 req/s"},
		{"no Unit lines, no newline", "BenchmarkPerfX 10 1.5 ttft-p50-sec"},
		{"blank and space-only lines", "\n  \t\nBenchmarkPerfX 10 1.5 ttft-p50-sec\n\n \n"},
		{"a config line after the results", "BenchmarkPerfX 10 1.5 ttft-p50-sec\nnote: re-recorded\n"},
		{"a declared unit", "Unit queue-depth better=lower\nBenchmarkPerfX 10 3 queue-depth\n"},
		{"units benchfmt knows", "BenchmarkPerfX 10 1500 ns/op 24 B/op\n"},
		{"a declared unit may be negative", "Unit drift-sec better=lower\nBenchmarkPerfX 10 -3 drift-sec\n"},
		{"machine figures, undeclared or either way", "Unit gpu-sm-clock-mhz better=higher\nBenchmarkPerfX 10 1 req/s 1980 gpu-sm-clock-mhz -0.01 machine-others-cpu\n"},
		{"an error rate of 1", "BenchmarkPerfX 10 0 req/s 1 error-rate\n"},
		{"a repetition without latencies", "Unit ttft-p50-sec better=lower\nUnit req/s better=higher\n\nBenchmarkPerfX 10 0.1 ttft-p50-sec 2 req/s\nBenchmarkPerfX 10 0 req/s\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tc.in), "ok.txt")
			assert.NoError(t, err)
		})
	}
}

// TestEveryTruncationIsAnErrorOrAPrefix cuts files perfgate wrote at every byte: each
// prefix must be refused, or read as the first repetitions of the whole file, unchanged.
func TestEveryTruncationIsAnErrorOrAPrefix(t *testing.T) {
	quick, err := os.ReadFile("../../baselines/cpu/PerfQuickstart.txt")
	require.NoError(t, err)
	lines := strings.SplitAfter(string(quick), "\n")
	var one bytes.Buffer
	_, _ = synth(1, 1).WriteTo(&one)
	for name, data := range map[string][]byte{
		"one repetition":            one.Bytes(),
		"quickstart, 2 repetitions": []byte(strings.Join(lines[:len(lines)-9], "")),
	} {
		t.Run(name, func(t *testing.T) {
			whole, err := Parse(bytes.NewReader(data), "whole.txt")
			require.NoError(t, err)
			for cut := range len(data) {
				checkPrefix(t, whole, data[:cut])
			}
		})
	}
}

// checkPrefix parses a prefix of a file whose parse is whole: it must fail, or hold the
// first repetitions of whole unchanged, with the same case, setup and directions.
func checkPrefix(t *testing.T, whole *File, prefix []byte) {
	t.Helper()
	got, err := Parse(bytes.NewReader(prefix), "cut.txt")
	if err != nil {
		if !strings.HasPrefix(err.Error(), "cut.txt") {
			t.Fatalf("cut at %d: error does not name the file: %v", len(prefix), err)
		}
		return
	}
	n := len(got.Reps)
	if n > len(whole.Reps) || !reflect.DeepEqual(got.Reps, whole.Reps[:n]) {
		t.Fatalf("cut at %d (%q...): read as other numbers:\n%+v", len(prefix), prefix[max(0, len(prefix)-60):], got.Reps[n-1])
	}
	if got.Name != whole.Name || !slices.Equal(got.Config, whole.Config) {
		t.Fatalf("cut at %d: another case or setup: %s %v", len(prefix), got.Name, got.Config)
	}
	for u, lower := range got.LowerBetter {
		if w, ok := whole.LowerBetter[u]; ok && w != lower {
			t.Fatalf("cut at %d: %s changed direction", len(prefix), u)
		}
	}
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
	b.Config = append(append([]KV(nil), testConfig...), KV{metric.KeyHardware, "nvidia-h100"})
	assert.Empty(t, Diff(a, b, "baseline", "current"))
	a.Config = append(append([]KV(nil), testConfig...), KV{metric.KeyHardware, "cpu"})
	assert.Equal(t, "  hardware: baseline \"cpu\", current \"nvidia-h100\"\n", Diff(a, b, "baseline", "current"))
	b.Name = "PerfY"
	assert.Contains(t, Diff(a, b, "A", "B"), "  (case): A \"PerfX\", B \"PerfY\"\n")
}

// FuzzParse feeds Parse anything: it must not panic, must name the file in its errors, and
// what it accepts must obey the package's checks and write back readably.
func FuzzParse(f *testing.F) {
	var buf bytes.Buffer
	_, _ = synth(1, 3).WriteTo(&buf)
	good := buf.String()
	f.Add(buf.Bytes())
	f.Add([]byte("key: v\nBenchmarkA 1 2 ns/op\nBenchmarkA 1 x ns/op\n"))
	f.Add([]byte("Unit a better=higher\nBenchmarkA/b=1 3 4 a\n"))
	f.Add([]byte("BenchmarkA 1 2 x-sec 3 y\nBenchmarkA 1 2 x-sec\n"))
	// Truncations, direction conflicts, impossible values, junk.
	f.Add([]byte(good[:strings.Index(good, "BenchmarkPerfX")+40]))
	f.Add([]byte(strings.Replace(good, "Unit itl-p50-sec better=lower", "Unit itl-p50-sec better=higher", 1)))
	f.Add([]byte(strings.Replace(good, "better=lower", "better=sideways", 1)))
	f.Add([]byte(good + "Unit req/s better=lower\n"))
	f.Add([]byte("BenchmarkA 10 -0.5 ttft-p50-sec 2 error-rate\n"))
	f.Add([]byte(good + "PASS\nok  \tpkg\t1.2s\n"))
	f.Add([]byte(good + "BenchmarkPerfX"))
	f.Fuzz(func(t *testing.T, in []byte) {
		rf, err := Parse(bytes.NewReader(in), "fuzz.txt")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.txt") && !strings.HasPrefix(err.Error(), "read fuzz.txt") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		for _, u := range rf.Units {
			vs := rf.Values(u)
			if len(vs) == 0 {
				t.Fatalf("unit %s listed without values", u)
			}
			k, isKnown := metric.Default().Lookup(u)
			lower, declared := rf.LowerBetter[u]
			switch {
			case isKnown && k.Kind != metric.Figure && declared && lower != k.LowerBetter:
				t.Fatalf("unit %s accepted with its direction reversed", u)
			case !isKnown && !declared:
				t.Fatalf("unit %s accepted without a direction", u)
			}
			for _, v := range vs {
				if math.IsNaN(v) || math.IsInf(v, 0) || isKnown && k.RangeProblem(v) != "" {
					t.Fatalf("unit %s accepted with value %v", u, v)
				}
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

// FuzzTruncate cuts files perfgate writes at any byte, and edits one byte: a cut file must
// be refused or read as its first repetitions unchanged.
func FuzzTruncate(f *testing.F) {
	f.Add(uint8(1), uint16(200))
	f.Add(uint8(3), uint16(1000))
	f.Add(uint8(0), uint16(65535))
	f.Fuzz(func(t *testing.T, reps uint8, cut uint16) {
		var buf bytes.Buffer
		_, _ = synth(uint64(reps), int(reps%5)+1).WriteTo(&buf)
		data := buf.Bytes()
		whole, err := Parse(bytes.NewReader(data), "whole.txt")
		if err != nil {
			t.Fatal(err)
		}
		checkPrefix(t, whole, data[:int(cut)%(len(data)+1)])
	})
}

// BenchmarkParseLarge reads a 20,000-line file with every unit perftest writes.
func BenchmarkParseLarge(b *testing.B) {
	quick, err := os.ReadFile("../../baselines/cpu/PerfQuickstart.txt")
	if err != nil {
		b.Fatal(err)
	}
	head, rest, _ := strings.Cut(string(quick), "\nBenchmark")
	line, _, _ := strings.Cut(rest, "\n")
	data := []byte(head + strings.Repeat("\nBenchmark"+line, 20000) + "\n")
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(bytes.NewReader(data), "large.txt"); err != nil {
			b.Fatal(err)
		}
	}
}

func TestDiffNamesUnitsWhenNoneIsShared(t *testing.T) {
	a, b := synth(1, 1), synth(1, 1)
	b.Units = []string{"ttft_p50", "rps"}
	b.Reps[0].Metrics = []Metric{{"ttft_p50", 1}, {"rps", 2}}
	assert.Equal(t, "  (units): OLD \"itl-p50-sec req/s error-rate\", NEW \"ttft_p50 rps\"\n", Diff(a, b, "OLD", "NEW"))
	// One unit in common is enough: the others are reported as one-sided by the gate.
	b.Units = append(b.Units, "req/s")
	assert.Empty(t, Diff(a, b, "OLD", "NEW"))
}

func TestAppend(t *testing.T) {
	f := &File{Name: "PerfX"}
	f.Append(nil, Rep{Iters: 1, Metrics: []Metric{{metric.TokenRate, 2}, {"widgets", 3}}},
		Rep{Iters: 1, Metrics: []Metric{{metric.TTFTP50, 0.1}, {metric.TokenRate, 2.5}, {"widgets", 4}}})
	assert.Equal(t, []string{metric.TokenRate, "widgets", metric.TTFTP50}, f.Units, "in order of first appearance")
	assert.Equal(t, map[string]bool{metric.TokenRate: false, "widgets": true, metric.TTFTP50: true}, f.LowerBetter, "lower for a unit the vocabulary does not know")
	assert.Len(t, f.Reps, 2)
	var buf bytes.Buffer
	_, err := f.WriteTo(&buf)
	require.NoError(t, err)
	back, err := Parse(&buf, "x.txt")
	require.NoError(t, err)
	assert.Equal(t, f.LowerBetter, back.LowerBetter)
}

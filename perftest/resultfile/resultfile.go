// Package resultfile reads and writes one perf case's result file: Go benchmark format as
// golang.org/x/perf/benchfmt defines it, with config lines saying what was measured,
// `Unit ... better=` lines giving each metric's direction, and one result line per
// repetition. `go tool benchstat` reads the files unchanged; so do baselines, which are
// result files committed to the repository.
//
// A file holds one case (one benchmark name) and one setup (one set of config lines).
// benchfmt is lenient, as a reader of `go test` output must be; a baseline that a crash, an
// editor or a merge has damaged must not be read as numbers, so [Read] also refuses
//
//   - a line benchfmt would skip: anything but a result line, a `Unit` line, a config line
//     ("key: value") or a blank line, wherever it is, and a benchmark name without values;
//   - a unit that perfgate does not write (one of [metric.Default]'s, or of the vocabulary
//     [Options] names: its metrics, and the machine figures "machine-*" and "gpu-*") and
//     that no `Unit <unit> better=` line
//     (nor benchfmt itself, for ns/op and the like) gives a direction: a unit cut short
//     ("ttft-p") or renamed;
//   - a `better=` other than higher or lower, or one that contradicts perfgate's direction
//     for a unit it writes (ttft-p50-sec better=higher would turn slowdowns into
//     improvements);
//   - a value that is not finite, or outside its unit's range (a negative latency or rate,
//     an error rate outside [0, 1]), and a negative iteration count;
//   - a result line that ends with another unit than the first one does (a line cut
//     between fields), and a last line without its newline that lacks units the Unit
//     lines declare (a file cut inside its only result line).
//
// Errors are of type *[SyntaxError], naming the file, the line and the field; the problem
// on the earliest line is the one reported.
//
// What [File.WriteTo] writes, Parse reads back, whatever a server or a tool handed the
// runner: the benchmark name and config values are made one line each and bounded to
// [MaxValue] bytes (see [Name] and [Value]; a cut value keeps a hash of the whole), a value
// that is not finite or not possible for its metric (an infinite power reading) is left
// out as a figure without a reading, and every line ends with the same unit.
package resultfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"golang.org/x/perf/benchfmt"

	"github.com/perfgate/perfgate/internal/atomicfile"
	"github.com/perfgate/perfgate/perftest/metric"
)

// KV is one config line, "key: value".
type KV struct{ Key, Value string }

// Metric is one value of a result line.
type Metric struct {
	Unit  string  // benchmark unit, a name of perftest/metric (metric.TTFTP50, ...) or another
	Value float64 // in the unit's base (seconds, requests/s, tokens/s, fraction)
}

// Rep is one result line: one repetition of the case.
type Rep struct {
	Iters   int // the benchmark line's iteration count: requests in the repetition
	Metrics []Metric
}

// File is one case's results.
type File struct {
	// Path is where the file was read from, or a label for results held in memory.
	Path string
	// Name is the benchmark name without its "Benchmark" prefix, e.g. "PerfQuickstart".
	Name string
	// Config holds the config lines, in order.
	Config []KV
	// Units lists every unit in order of first appearance.
	Units []string
	// LowerBetter holds the direction of each unit that has a `Unit ... better=` line.
	LowerBetter map[string]bool
	// Reps holds the result lines in order. A line may lack some units: a repetition in
	// which no request succeeded has no latencies.
	Reps []Rep
}

// Values returns a unit's values across the repetitions that have it.
func (f *File) Values(unit string) []float64 {
	var out []float64
	for _, r := range f.Reps {
		for _, m := range r.Metrics {
			if m.Unit == unit {
				out = append(out, m.Value)
			}
		}
	}
	return out
}

// ConfigValue returns a config line's value ("" if absent).
func (f *File) ConfigValue(key string) string {
	for _, kv := range f.Config {
		if kv.Key == key {
			return kv.Value
		}
	}
	return ""
}

// ErrUnhealthy is wrapped by Healthy's error.
var ErrUnhealthy = errors.New("the run was unhealthy")

// Healthy returns nil when the file records no problem with its run: a "health: ok" line,
// or none (files written before perfgate recorded it). Otherwise its error, wrapping
// ErrUnhealthy, names the problems (error-rate, rate-short, schedule-lag, short-outputs):
// the numbers do not describe the requested load, and comparing them says nothing.
func (f *File) Healthy() error {
	h := f.ConfigValue(metric.KeyHealth)
	if h == "" || h == "ok" {
		return nil
	}
	return fmt.Errorf("%s: %w (health: %s)", f.Path, ErrUnhealthy, h)
}

// SyntaxError is a problem in a result file, at a line (0: the file as a whole).
type SyntaxError struct {
	FileName string
	Line     int
	Msg      string
}

func (e *SyntaxError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.FileName, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.FileName, e.Msg)
}

// Pos returns the file name and line of the error, as benchfmt.SyntaxError does.
func (e *SyntaxError) Pos() (fileName string, line int) { return e.FileName, e.Line }

// WriteTo writes the file in Go benchmark format: config lines, `Unit ... better=` lines for
// the units whose direction is known, and one result line per repetition. It writes what
// Parse reads back: names and values bounded and cleaned (Name, Value), values that are not
// finite or not possible left out; see the package documentation.
func (f *File) WriteTo(w io.Writer) (int64, error) {
	out, err := f.written()
	if err != nil {
		return 0, fmt.Errorf("write results %s: %w", f.Path, err)
	}
	f = out
	var buf bytes.Buffer
	bw := benchfmt.NewWriter(&buf)
	cfg := make([]benchfmt.Config, len(f.Config))
	for i, kv := range f.Config {
		cfg[i] = benchfmt.Config{Key: kv.Key, Value: []byte(kv.Value), File: true}
	}
	wrote := false
	for _, u := range f.Units {
		lower, ok := f.LowerBetter[u]
		if !ok {
			continue
		}
		better := "higher"
		if lower {
			better = "lower"
		}
		m := &benchfmt.UnitMetadata{UnitMetadataKey: benchfmt.UnitMetadataKey{Unit: u, Key: "better"}, OrigUnit: u, Value: better}
		if err := bw.Write(m); err != nil {
			return 0, err
		}
		wrote = true
	}
	if wrote {
		buf.WriteByte('\n')
	}
	for _, rep := range f.Reps {
		res := &benchfmt.Result{Config: cfg, Name: benchfmt.Name(f.Name), Iters: rep.Iters}
		for _, m := range rep.Metrics {
			res.Values = append(res.Values, benchfmt.Value{Value: m.Value, Unit: m.Unit, OrigValue: m.Value, OrigUnit: m.Unit})
		}
		if err := bw.Write(res); err != nil {
			return 0, err
		}
	}
	n, err := w.Write(buf.Bytes())
	return int64(n), err
}

// WriteFile writes the file to path atomically: a reader sees the old file or the new one,
// never a part.
func (f *File) WriteFile(path string) error {
	return atomicfile.Write(path, func(w io.Writer) error { _, err := f.WriteTo(w); return err })
}

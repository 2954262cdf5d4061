package perftest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/perf/benchfmt"
)

// Result is the outcome of a perf case: one set of metrics per repetition.
type Result struct {
	// Name is the benchmark name without the "Benchmark" prefix, e.g. "PerfQuickstart".
	Name string
	// Config holds the config lines recorded with the results, in order.
	Config []KV
	// Reps holds the repetitions in the order they ran.
	Reps []Repetition
	// Partial is set when the run stopped before all repetitions finished.
	Partial bool

	count int // repetitions asked for
}

// KV is one config line.
type KV struct{ Key, Value string }

// Repetition is one replay of the workload.
type Repetition struct {
	Metrics  []Metric
	Records  []Record
	Requests int
	Outcomes map[Outcome]int
	Wall     time.Duration
	// TokenMismatch counts requests whose streamed chunks disagree with the server's usage.
	TokenMismatch int
	// Diag says how faithfully the client delivered the load.
	Diag Diagnostics
}

// Value returns the values of a metric across repetitions.
func (r *Result) Value(unit string) []float64 {
	var out []float64
	for _, rep := range r.Reps {
		for _, m := range rep.Metrics {
			if m.Unit == unit {
				out = append(out, m.Value)
			}
		}
	}
	return out
}

// ConfigValue returns a config line's value ("" if absent).
func (r *Result) ConfigValue(key string) string {
	for _, kv := range r.Config {
		if kv.Key == key {
			return kv.Value
		}
	}
	return ""
}

// WriteTo writes the result in Go benchmark format: config lines, `Unit ... better=` lines,
// and one benchmark line per repetition. benchstat reads it unchanged.
func (r *Result) WriteTo(w io.Writer) (int64, error) {
	var buf bytes.Buffer
	bw := benchfmt.NewWriter(&buf)
	var units []string
	for _, rep := range r.Reps {
		for _, m := range rep.Metrics {
			if !slices.Contains(units, m.Unit) {
				units = append(units, m.Unit)
			}
		}
	}
	cfg := make([]benchfmt.Config, len(r.Config))
	for i, kv := range r.Config {
		cfg[i] = benchfmt.Config{Key: kv.Key, Value: []byte(kv.Value), File: true}
	}
	for _, u := range units {
		better := "higher"
		if d, ok := lookupMetric(u); !ok || d.lowerBetter {
			better = "lower"
		}
		m := &benchfmt.UnitMetadata{UnitMetadataKey: benchfmt.UnitMetadataKey{Unit: u, Key: "better"}, OrigUnit: u, Value: better}
		if err := bw.Write(m); err != nil {
			return 0, err
		}
	}
	if len(units) > 0 {
		buf.WriteByte('\n')
	}
	for _, rep := range r.Reps {
		res := &benchfmt.Result{Config: cfg, Name: benchfmt.Name(r.Name), Iters: rep.Requests}
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

// writeFileAtomic writes a file through a temporary file in the same folder and a rename,
// so a reader never sees half a file and a crash never leaves one.
func writeFileAtomic(path string, write func(io.Writer) error) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(f.Name()) // no-op after the rename
	bw := bufio.NewWriter(f)
	if err := write(bw); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// WriteFiles writes NAME.txt (benchmark format) and NAME.records.jsonl (one line per
// request) into dir, and returns the result file's path.
func (r *Result) WriteFiles(dir string) (string, error) {
	base := filepath.Join(dir, fileName(r.Name))
	if err := writeFileAtomic(base+".txt", func(w io.Writer) error { _, err := r.WriteTo(w); return err }); err != nil {
		return "", err
	}
	err := writeFileAtomic(base+".records.jsonl", func(w io.Writer) error {
		enc := json.NewEncoder(w)
		for i, rep := range r.Reps {
			for j := range rep.Records {
				line := struct {
					Rep int `json:"rep"`
					*Record
				}{i, &rep.Records[j]}
				if err := enc.Encode(line); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return base + ".txt", err
}

func fileName(name string) string {
	return strings.NewReplacer("/", "_", " ", "_", ":", "_").Replace(name)
}

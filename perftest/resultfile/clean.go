package resultfile

import (
	"crypto/sha256"
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/perfgate/perfgate/perftest/metric"
)

// MaxValue is the longest config value or benchmark name a result file holds, in bytes. A
// longer one (a model id or a hardware line a server or a tool made up) is cut, and what is
// cut is named by its length and hash, so that two long values stay told apart; the line
// then stays far below the 64 KiB that benchfmt reads.
const MaxValue = 1024

// Value returns s as a result file holds it in a config line: valid UTF-8, every control
// character (a line end, an escape) a space, no spaces around it, at most MaxValue bytes
// and a hash of the rest. What the writer writes, the reader reads back unchanged; a value
// already so returns unchanged.
func Value(s string) string {
	return bound(strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))), " ")
}

// Name returns s as a result file holds it as a benchmark name: as Value, with every space
// an underscore (a name ends at the first space).
func Name(s string) string {
	return bound(strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || unicode.IsControl(r) || r == utf8.RuneError {
			return '_'
		}
		return r
	}, strings.ToValidUTF8(s, "_")), "_")
}

// bound cuts s to MaxValue bytes, at a rune boundary, naming what it cut; sep stands
// between the words of the note.
func bound(s, sep string) string {
	if len(s) <= MaxValue {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	note := strings.ReplaceAll(fmt.Sprintf("...(%d bytes, sha256 %x)", len(s), sum[:8]), " ", sep)
	cut := MaxValue - len(note)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + note
}

// written returns the file as WriteTo writes it, which Parse reads back equal: the name and
// config values as Name and Value make them (a key whose value is then empty left out, as
// benchfmt reads "key:" as no such key), values that are not finite or outside their
// metric's range left out (a figure without a reading: its reader would refuse the file),
// and, on every line, the last unit that every line has moved to the end (a line's last
// unit is how the reader tells a line cut short). Config keys, units and repeated units
// that no reader could read back are an error: they are the writer's mistakes, not data.
func (f *File) written() (*File, error) {
	out := &File{Path: f.Path, Name: Name(f.Name), LowerBetter: map[string]bool{}}
	for _, kv := range f.Config {
		if !isConfigLine([]byte(kv.Key+":")) || strings.Contains(kv.Key, ":") {
			return nil, fmt.Errorf("config key %q: a key begins with a lower-case letter and holds no space, upper-case letter or colon", kv.Key)
		}
		if slices.ContainsFunc(out.Config, func(o KV) bool { return o.Key == kv.Key }) {
			return nil, fmt.Errorf("config key %q appears twice", kv.Key)
		}
		if v := Value(kv.Value); v != "" {
			out.Config = append(out.Config, KV{kv.Key, v})
		}
	}
	for _, rep := range f.Reps {
		r := Rep{Iters: rep.Iters, Metrics: make([]Metric, 0, len(rep.Metrics))}
		for _, m := range rep.Metrics {
			if m.Unit == "" || strings.ContainsFunc(m.Unit, unicode.IsSpace) {
				return nil, fmt.Errorf("unit %q: a unit is one word", m.Unit)
			}
			if slices.ContainsFunc(r.Metrics, func(o Metric) bool { return o.Unit == m.Unit }) {
				return nil, fmt.Errorf("unit %q appears twice on a line", m.Unit)
			}
			if d, ok := metric.Default().Lookup(m.Unit); math.IsNaN(m.Value) || math.IsInf(m.Value, 0) || ok && !d.Contains(m.Value) {
				continue
			}
			r.Metrics = append(r.Metrics, m)
		}
		out.Reps = append(out.Reps, r)
	}
	out.anchorLastUnit()
	for _, r := range out.Reps {
		for _, m := range r.Metrics {
			if !slices.Contains(out.Units, m.Unit) {
				out.Units = append(out.Units, m.Unit)
				if lower, ok := f.LowerBetter[m.Unit]; ok {
					out.LowerBetter[m.Unit] = lower
				}
			}
		}
	}
	return out, nil
}

// anchorLastUnit moves, on every line, the last unit of the first line that every line has
// to the end of the line.
func (f *File) anchorLastUnit() {
	if len(f.Reps) == 0 {
		return
	}
	has := func(r Rep, u string) bool {
		return slices.ContainsFunc(r.Metrics, func(m Metric) bool { return m.Unit == u })
	}
	for _, m := range slices.Backward(f.Reps[0].Metrics) {
		if !slices.ContainsFunc(f.Reps, func(r Rep) bool { return !has(r, m.Unit) }) {
			for i, r := range f.Reps {
				j := slices.IndexFunc(r.Metrics, func(x Metric) bool { return x.Unit == m.Unit })
				f.Reps[i].Metrics = append(slices.Delete(slices.Clone(r.Metrics), j, j+1), r.Metrics[j])
			}
			return
		}
	}
}

package resultfile

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"

	"golang.org/x/perf/benchfmt"

	"github.com/perfgate/perfgate/perftest/metric"
)

// Parse reads results in Go benchmark format; fileName names the input in errors. The
// input must hold one benchmark name with one config, and pass every check the package
// documentation lists, with o.Metrics for perfgate's units. The first problem, by line, is
// the error: a *SyntaxError naming the file, the line and the field.
func (o Options) Parse(r io.Reader, fileName string) (*File, error) {
	var lines lineScan
	br := benchfmt.NewReader(io.TeeReader(r, &lines), fileName)
	p := &parser{f: &File{Path: fileName, LowerBetter: map[string]bool{}}, name: fileName, first: map[string]int{}, metrics: o.Metrics}
	for br.Scan() {
		switch rec := br.Result().(type) {
		case *benchfmt.SyntaxError:
			p.fail(rec.Line, "%s", rec.Msg)
		case *benchfmt.UnitMetadata:
			if rec.Key == "better" {
				p.better = append(p.better, rec)
			}
		case *benchfmt.Result:
			p.add(rec)
		}
	}
	if err := br.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", fileName, err)
	}
	lines.end()
	f := p.f
	if lines.nameOnly > 0 {
		p.fail(lines.nameOnly, "%s is a benchmark name without values: a result line cut short?", lines.nameOnlyText)
	}
	meta := br.Units()
	p.checkUnits(meta)
	if len(f.Reps) > 0 {
		if lines.junk > 0 {
			p.fail(lines.junk, "%s is not a result, Unit or config line: a result file holds nothing else (an edit, a merge conflict, or files run together?)", lines.junkText)
		}
		p.checkEnd(lines.unterminated)
	}
	if p.err != nil {
		if p.err.Line == lines.unterminated {
			p.err.Msg += "; the file ends inside this line, without a newline"
			if !strings.Contains(p.err.Msg, "cut short") {
				p.err.Msg += ": cut short?"
			}
		}
		return nil, p.err
	}
	if len(f.Reps) == 0 {
		return nil, &SyntaxError{fileName, 0, "no benchmark result lines"}
	}
	for _, u := range f.Units {
		switch meta.GetBetter(u) {
		case -1:
			f.LowerBetter[u] = true
		case 1:
			f.LowerBetter[u] = false
		}
	}
	return f, nil
}

// parser holds what Parse has read so far. Problems do not stop it: the one on the
// earliest line is reported, so that the error does not depend on the order of the checks.
type parser struct {
	f       *File
	name    string
	metrics *metric.Set
	lines   []int                    // the line of each of f.Reps
	first   map[string]int           // the line where each unit first appears
	better  []*benchfmt.UnitMetadata // `Unit ... better=` entries, in order
	last    string                   // the unit the first result line ends with
	err     *SyntaxError
}

// fail notes a problem at line (> 0), keeping the earliest.
func (p *parser) fail(line int, format string, args ...any) {
	if p.err == nil || line < p.err.Line {
		p.err = &SyntaxError{p.name, line, fmt.Sprintf(format, args...)}
	}
}

// failFirst is fail for a problem that explains others on its line: a unit with no known
// direction is also the reason the line ends with an unexpected unit.
func (p *parser) failFirst(line int, msg string) {
	if p.err == nil || line <= p.err.Line {
		p.err = &SyntaxError{p.name, line, msg}
	}
}

// add appends one result line, checking that it belongs to the file's case and setup and
// that its values are possible.
func (p *parser) add(rec *benchfmt.Result) {
	f := p.f
	_, line := rec.Pos()
	switch {
	case len(f.Reps) == 0:
		f.Name = rec.Name.String()
		for _, c := range rec.Config {
			if c.File {
				f.Config = append(f.Config, KV{c.Key, string(c.Value)})
			}
		}
	case string(rec.Name) != f.Name:
		p.fail(line, "benchmark %q differs from %q: one file holds one case", rec.Name.String(), f.Name)
		return
	case !sameConfig(rec.Config, f.Config):
		p.fail(line, "config lines change within the file: one file holds one setup")
		return
	}
	if rec.Iters < 0 {
		p.fail(line, "iteration count %d: the requests of a repetition cannot be negative", rec.Iters)
		return
	}
	rep := Rep{Iters: rec.Iters, Metrics: make([]Metric, 0, len(rec.Values))}
	for _, v := range rec.Values {
		u, val := v.OrigUnit, v.OrigValue
		if u == "" {
			u, val = v.Unit, v.Value
		}
		if slices.ContainsFunc(rep.Metrics, func(m Metric) bool { return m.Unit == u }) {
			p.fail(line, "unit %q appears twice", u)
			return
		}
		if math.IsNaN(val) || math.IsInf(val, 0) {
			p.fail(line, "%s %v: a value must be a finite number", u, val)
			return
		}
		if d, ok := p.metrics.Lookup(u); ok {
			if msg := d.RangeProblem(val); msg != "" {
				p.fail(line, "%s %v: %s", u, val, msg)
				return
			}
		}
		if _, ok := p.first[u]; !ok {
			p.first[u] = line
			f.Units = append(f.Units, u)
		}
		rep.Metrics = append(rep.Metrics, Metric{u, val})
	}
	// perfgate writes every line with the same last unit; a line cut between two fields
	// loses it.
	last := rep.Metrics[len(rep.Metrics)-1].Unit
	if len(f.Reps) == 0 {
		p.last = last
	} else if last != p.last {
		p.fail(line, "line ends with unit %q where the first result line ends with %q: a line cut short, or edited?", last, p.last)
		return
	}
	f.Reps = append(f.Reps, rep)
	p.lines = append(p.lines, line)
}

// checkUnits checks the `Unit ... better=` lines and that every unit has a known direction:
// a unit perfgate writes, one the file gives a direction, or one benchfmt knows (ns/op,
// B/op, ...). A unit with none is a unit cut short or renamed, and its direction would be
// a guess.
func (p *parser) checkUnits(meta benchfmt.UnitMetadataMap) {
	for _, m := range p.better {
		_, line := m.Pos()
		if m.Value != "higher" && m.Value != "lower" {
			p.fail(line, "Unit %s better=%s: better is higher or lower", m.OrigUnit, m.Value)
			continue
		}
		if d, ok := p.metrics.Lookup(m.OrigUnit); ok && d.Kind != metric.Figure && m.Value != direction(d.LowerBetter) {
			p.fail(line, "Unit %s better=%s: perfgate knows %s %s is better; a file cannot reverse a known unit's direction (fix or remove the line)",
				m.OrigUnit, m.Value, direction(d.LowerBetter), m.OrigUnit)
		}
	}
	// Backwards, so that of two such units on a line, the first is named.
	for _, u := range slices.Backward(p.f.Units) {
		if _, ok := p.metrics.Lookup(u); ok || meta.GetBetter(u) != 0 {
			continue
		}
		msg := fmt.Sprintf("unit %q is not one perfgate writes, and no \"Unit %s better=lower|higher\" line gives its direction", u, u)
		if whole := p.completion(u); whole != "" {
			msg += fmt.Sprintf(": %q cut short?", whole)
		}
		p.failFirst(p.first[u], msg)
	}
}

// completion returns a unit the file declares, or else one perfgate writes, that begins
// with u ("" if none).
func (p *parser) completion(u string) string {
	for _, m := range p.better {
		if strings.HasPrefix(m.OrigUnit, u) && m.OrigUnit != u {
			return m.OrigUnit
		}
	}
	for _, k := range p.metrics.Names() {
		if strings.HasPrefix(k, u) {
			return k
		}
	}
	return ""
}

// checkEnd checks a last line that has no newline (line > 0). Every perfgate file ends with
// one; a file cut short ends inside a line. Cut inside a field, the line fails to parse or
// names an unknown unit; cut between fields, it ends with another unit than the first line
// (see add). What remains is a file whose only result line was cut between fields: it lacks
// units that the file's Unit lines declare.
func (p *parser) checkEnd(line int) {
	i := slices.Index(p.lines, line)
	if line == 0 || i < 0 {
		return
	}
	var missing []string
	for _, m := range p.better {
		if !slices.ContainsFunc(p.f.Reps[i].Metrics, func(x Metric) bool { return x.Unit == m.OrigUnit }) && !slices.Contains(missing, m.OrigUnit) {
			missing = append(missing, m.OrigUnit)
		}
	}
	if len(missing) > 0 {
		p.fail(line, "the line lacks %s, which the file's Unit lines declare", strings.Join(missing, ", "))
	}
}

// sameConfig reports whether a result's file config lines are cfg, without allocating.
func sameConfig(rc []benchfmt.Config, cfg []KV) bool {
	i := 0
	for _, c := range rc {
		if !c.File {
			continue
		}
		if i == len(cfg) || c.Key != cfg[i].Key || string(c.Value) != cfg[i].Value {
			return false
		}
		i++
	}
	return i == len(cfg)
}

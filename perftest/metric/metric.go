// Package metric is perfgate's vocabulary: every metric a result file carries, defined once
// with its name (the benchmark unit written to the file), unit, kind, direction, default
// threshold, valid range and a short description; and the config keys that record how a run
// went rather than what it measured.
//
// The runner writes these names, resultfile checks values against their ranges and
// directions, the gate takes their directions and thresholds, the machine-noise model their
// kinds, and the reports their descriptions. A [Set] is an immutable vocabulary; [Default]
// is perfgate's, and a nil *Set means it. A tool that writes more metrics extends it with
// [Set.With] and passes the result in the Options of the packages that read one. The package
// imports nothing else of the module.
package metric

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
)

// Kind is what sort of quantity a metric is: it fixes the metric's valid range.
type Kind uint8

// The kinds of metric.
const (
	// Latency is a time in seconds: not negative.
	Latency Kind = iota + 1
	// Rate is a number per second: not negative.
	Rate
	// Count is a number of events: not negative.
	Count
	// Fraction is a share: in [0, 1].
	Fraction
	// Usage is a share of a resource that engines report under names that do not promise
	// a fraction (the KV-cache usage): only its sign is certain.
	Usage
	// Figure is a figure of the machine the run happened on (its load, its GPUs'
	// telemetry), written beside the metrics and never gated: any finite value.
	Figure
)

var kindNames = [...]string{Latency: "a latency", Rate: "a rate", Count: "a count", Fraction: "a fraction",
	Usage: "a cache usage", Figure: "a machine figure"}

// String names the kind in messages: "a latency", "a fraction", ...
func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Range returns the values a metric of this kind can take.
func (k Kind) Range() (lo, hi float64) {
	switch k {
	case Fraction:
		return 0, 1
	case Figure:
		return math.Inf(-1), math.Inf(1)
	}
	return 0, math.Inf(1)
}

// Stat is the statistic a metric takes of what it measures.
type Stat uint8

// The statistics.
const (
	// Whole is one figure of the whole repetition: a rate, a share, a count.
	Whole Stat = iota
	Mean
	P50
	P90
	P99
)

// Seconds is the unit of latencies (Def.Unit); reports show it as milliseconds.
const Seconds = "s"

// Def defines one metric.
type Def struct {
	// Name is the benchmark unit the result files carry: "ttft-p50-sec". It has no spaces.
	Name string
	// Unit is what a value is counted in: Seconds, "req/s", "MHz"; "" for a share or a
	// count.
	Unit string
	Kind Kind
	Stat Stat
	// LowerBetter is true for latencies, error rates and other costs, false for rates and
	// hit ratios.
	LowerBetter bool
	// Threshold is the gate's default smallest relative change that counts (0: any).
	Threshold float64
	// Server marks a figure the server reports on its /metrics, not one the client measures.
	Server bool
	// OnlyWhen names the setting a server figure exists under ("speculative decoding"): a
	// server without it exports nothing to read, which is not a sign of a missing name.
	OnlyWhen string
	// TokenGap marks a latency that is one gap between two streamed tokens (ITL): it spans
	// no whole engine steps, which the machine-noise model counts apart.
	TokenGap bool
	// Desc says in a few words what the metric is, for the reports.
	Desc string
}

// Contains reports whether v is a possible value of the metric.
func (d Def) Contains(v float64) bool {
	lo, hi := d.Kind.Range()
	if d.Unit == "MHz" && !(v > 0) {
		return false // a clock read at 0 MHz or below is implausible telemetry
	}
	return v >= lo && v <= hi
}

// RangeProblem says what is wrong with v as a value of the metric ("" when v is possible):
// "a latency cannot be negative", "a fraction lies in [0, 1]".
func (d Def) RangeProblem(v float64) string {
	if d.Contains(v) {
		return ""
	}
	lo, hi := d.Kind.Range()
	if d.Unit == "MHz" {
		return "a clock reading must be above 0 MHz (implausible telemetry, never used to explain a change)"
	}
	if math.IsInf(hi, 1) {
		return d.Kind.String() + " cannot be negative"
	}
	return fmt.Sprintf("%s lies in [%g, %g]", d.Kind, lo, hi)
}

// Set is a vocabulary of metrics. It never changes once made; the nil *Set is Default.
type Set struct {
	defs  []Def
	index map[string]int
	// prefixes begin the names of families of machine figures that grow with what a
	// machine can report, so they are known by prefix.
	prefixes []string
}

// Default returns perfgate's vocabulary: the metrics the runner writes, the machine
// figures (named ones, and any unit beginning MachinePrefix or GPUPrefix) and the parts of
// latencies (any unit beginning PartPrefix: figures too, never gated).
func Default() *Set { return defaultSet }

func (s *Set) or() *Set {
	if s == nil {
		return defaultSet
	}
	return s
}

// With returns a vocabulary holding s's definitions and defs after them. A definition
// without a name or kind, with spaces in its name, with a negative threshold, or named as
// another is an error.
func (s *Set) With(defs ...Def) (*Set, error) { return s.or().with(defs) }

func (s *Set) with(defs []Def) (*Set, error) {
	n := &Set{defs: slices.Concat(s.defs, defs), index: maps.Clone(s.index), prefixes: s.prefixes}
	var errs []error
	for i, d := range defs {
		switch {
		case d.Name == "" || strings.ContainsFunc(d.Name, isSpace):
			errs = append(errs, fmt.Errorf("metric %q: a name is one word, without spaces", d.Name))
		case d.Kind < Latency || d.Kind > Figure:
			errs = append(errs, fmt.Errorf("metric %s: no kind", d.Name))
		case d.Threshold < 0 || math.IsNaN(d.Threshold):
			errs = append(errs, fmt.Errorf("metric %s: threshold %v is not a relative change", d.Name, d.Threshold))
		}
		if _, dup := n.index[d.Name]; dup {
			errs = append(errs, fmt.Errorf("metric %s: defined twice", d.Name))
		}
		n.index[d.Name] = len(s.defs) + i
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return n, nil
}

func isSpace(r rune) bool { return r == ' ' || r == '\t' || r == '\n' || r == '\r' }

// Lookup returns the definition of the metric named name, and whether the vocabulary knows
// it: a defined metric, or a machine figure known by its prefix (Kind Figure, lower better,
// no threshold). For a name it does not know it returns what the benchmark format itself
// says of it: Unit Seconds for a name ending "-sec", lower better.
func (s *Set) Lookup(name string) (Def, bool) {
	s = s.or()
	if i, ok := s.index[name]; ok {
		return s.defs[i], true
	}
	for _, p := range s.prefixes {
		if len(name) > len(p) && strings.HasPrefix(name, p) {
			if latency, phase, ok := ParsePart(name); ok && p == PartPrefix {
				return Def{Name: name, Unit: Seconds, Kind: Figure, Stat: Mean, LowerBetter: true,
					Desc: "time spent in " + phase + " by the requests around " + latency + " (a part of the latency)"}, true
			}
			return Def{Name: name, Kind: Figure, LowerBetter: true, Desc: "a figure of the machine"}, true
		}
	}
	d := Def{Name: name, LowerBetter: true}
	if strings.HasSuffix(name, "-sec") {
		d.Unit = Seconds
	}
	return d, false
}

// IsFigure reports whether name is a machine figure: shown beside the metrics, never gated.
func (s *Set) IsFigure(name string) bool {
	d, ok := s.Lookup(name)
	return ok && d.Kind == Figure
}

// LowerBetter returns the metric's direction; lower for a name the vocabulary does not know.
func (s *Set) LowerBetter(name string) bool {
	d, _ := s.Lookup(name)
	return d.LowerBetter
}

// Defs returns every definition, in the order they were made.
func (s *Set) Defs() []Def { return slices.Clone(s.or().defs) }

// Gated returns the definitions of the metrics the gate tests (every one but the machine
// figures), in the order they were made.
func (s *Set) Gated() []Def {
	return slices.DeleteFunc(s.Defs(), func(d Def) bool { return d.Kind == Figure })
}

// Names returns the names of the gated metrics, sorted.
func (s *Set) Names() []string {
	var out []string
	for _, d := range s.Gated() {
		out = append(out, d.Name)
	}
	slices.Sort(out)
	return out
}

// HigherBetter maps the name of every gated metric whose higher values are better to true
// and the others to false (the form perftest/history takes directions in).
func (s *Set) HigherBetter() map[string]bool {
	m := map[string]bool{}
	for _, d := range s.Gated() {
		m[d.Name] = !d.LowerBetter
	}
	return m
}

// mustSet makes a vocabulary from scratch, panicking on a bad definition.
func mustSet(prefixes []string, defs ...Def) *Set {
	s, err := (&Set{index: map[string]int{}, prefixes: prefixes}).with(defs)
	if err != nil {
		panic(err)
	}
	return s
}

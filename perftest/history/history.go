// Package history keeps a case's history of gated runs (one JSON line per run, append-only)
// and finds lasting shifts in it: change points that a comparison of two runs misses, such
// as a drift made of several small steps or a change that landed between baseline updates.
package history

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/perfgate/perfgate/internal/atomicfile"
	"github.com/perfgate/perfgate/perftest/metric"
)

// Entry is one gated run of a case: one line of its history file
// (FOLDER/<hardware class>/<case>.history.jsonl, JSON lines, append-only).
type Entry struct {
	Time   time.Time `json:"time"`
	Commit string    `json:"commit,omitempty"`
	Case   string    `json:"case"`
	// Hardware is the hardware class the run was measured on.
	Hardware string `json:"hardware,omitempty"`
	// N is the number of repetitions the medians are taken over.
	N int `json:"n"`
	// Medians holds each metric's median over the run's repetitions.
	Medians map[string]float64 `json:"medians"`
}

// Path is where a case's history lives under dir:
// dir/<hardware class>/<case>.history.jsonl. fileName is the case's name made safe as a
// file name.
func Path(dir, hardware, fileName string) string {
	return filepath.Join(dir, hardware, fileName+".history.jsonl")
}

// Append appends one entry to the history file at path, creating it (and its folder) if
// needed. Writers of the same file take turns through a lock file, and each entry is one
// write of one line, so concurrent runs never interleave or lose entries; a write cut short
// (a full disk) is cut back off, so the file never ends inside a line. An entry that Read
// would refuse (a median that is not finite or not possible) is an error, not written.
func Append(path string, e Entry) error {
	if msg := checkMedians(e); msg != "" {
		return fmt.Errorf("append history %s: %s: Read would refuse the entry", path, msg)
	}
	line, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("append history %s: %w", path, err)
	}
	release, err := atomicfile.Lock(path+".lock", 30*time.Second)
	if err != nil {
		return fmt.Errorf("append history: %w", err)
	}
	defer release()
	return atomicfile.Append(path, append(line, '\n'))
}

// SyntaxError is a line of a history file that is not a history entry.
type SyntaxError struct {
	FileName string
	Line     int
	Msg      string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("%s:%d: %s", e.FileName, e.Line, e.Msg) }

// Read reads a history file. A line that is not a history entry is an error naming the
// file and line; blank lines are skipped.
func Read(path string) ([]Entry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read history: %w", err)
	}
	defer f.Close()
	return Parse(f, path)
}

// Parse reads history entries, one JSON object a line, from r. It refuses, naming the line,
// what no run of one case on one hardware class writes: a median that is not finite or not
// possible for its metric (a negative latency; metric.Default), and an entry of another
// case or hardware class than the file's first.
func Parse(r io.Reader, fileName string) ([]Entry, error) {
	var out []Entry
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	line := 0
	var kase, hardware firstSeen
	for sc.Scan() {
		line++
		b := strings.TrimSpace(sc.Text())
		if b == "" {
			continue
		}
		var e Entry
		dec := json.NewDecoder(strings.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			return nil, &SyntaxError{fileName, line, fmt.Sprintf("not a history entry: %v", err)}
		}
		msg := checkMedians(e)
		if msg == "" {
			msg = kase.check("case", e.Case, line)
		}
		if msg == "" {
			msg = hardware.check("hardware class", e.Hardware, line)
		}
		if msg != "" {
			return nil, &SyntaxError{fileName, line, msg}
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read history %s: line %d: %w", fileName, line+1, err)
	}
	return out, nil
}

// checkMedians says what is wrong with an entry's medians ("" when nothing is).
func checkMedians(e Entry) string {
	if len(e.Medians) == 0 {
		return "history entry has no medians"
	}
	for _, u := range slices.Sorted(maps.Keys(e.Medians)) {
		v := e.Medians[u]
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Sprintf("median of %q is not finite", u)
		}
		if d, ok := metric.Default().Lookup(u); ok && !d.Contains(v) {
			return fmt.Sprintf("median of %q is %v: %s", u, v, d.RangeProblem(v))
		}
	}
	return ""
}

// firstSeen is the first value of a field a file gives, and its line.
type firstSeen struct {
	v    string
	line int
}

// check says what is wrong with v, a field's value on line, when it differs from the first
// ("" when it does not; entries that lack the field are of any).
func (f *firstSeen) check(what, v string, line int) string {
	switch {
	case v == "":
	case f.line == 0:
		f.v, f.line = v, line
	case v != f.v:
		return fmt.Sprintf("%s %q, where line %d has %q: one history file holds the runs of one case on one hardware class", what, v, f.line, f.v)
	}
	return ""
}

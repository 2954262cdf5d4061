package perftest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// HistoryEntry is one gated run of a case: one line of its history file
// (FOLDER/<hardware class>/<case>.history.jsonl, JSON lines, append-only).
type HistoryEntry struct {
	Time   time.Time `json:"time"`
	Commit string    `json:"commit,omitempty"`
	Case   string    `json:"case"`
	// Hardware is the hardware class (see HardwareClass).
	Hardware string `json:"hardware,omitempty"`
	// N is the number of repetitions the medians are taken over.
	N int `json:"n"`
	// Medians holds each metric's median over the run's repetitions.
	Medians map[string]float64 `json:"medians"`
}

// HistoryPath is where a case's history lives under dir: dir/<hardware class>/<case>.history.jsonl.
func HistoryPath(dir, caseName string) string {
	return filepath.Join(dir, HardwareClass(), fileName(caseName)+".history.jsonl")
}

// HistoryEntry summarizes the result as one history entry, stamped now with the commit
// (see Commit).
func (r *Result) HistoryEntry() HistoryEntry {
	e := HistoryEntry{Time: time.Now().UTC().Truncate(time.Second), Commit: Commit(), Case: r.Name, N: len(r.Reps), Medians: map[string]float64{}}
	e.Hardware = r.ConfigValue(hardwareKey)
	if e.Hardware == "" {
		e.Hardware = HardwareClass()
	}
	rf := r.File()
	for _, u := range rf.Units {
		e.Medians[u] = median(rf.Values[u])
	}
	return e
}

var (
	commitOnce sync.Once
	commit     string
)

// Commit is the commit under test: `git rev-parse HEAD` in the working folder, else the
// GITHUB_SHA environment variable, else "".
func Commit() string {
	commitOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if out, err := exec.CommandContext(ctx, "git", "rev-parse", "HEAD").Output(); err == nil {
			commit = strings.TrimSpace(string(out))
		}
		if commit == "" {
			commit = os.Getenv("GITHUB_SHA")
		}
	})
	return commit
}

// AppendHistory appends one entry to the history file at path, creating it (and its
// folder) if needed. Writers of the same file take turns through a lock file, and each entry
// is one write of one line, so concurrent runs never interleave or lose entries.
func AppendHistory(path string, e HistoryEntry) error {
	line, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("append history %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("append history: %w", err)
	}
	unlock, err := lockFile(path+".lock", 30*time.Second)
	if err != nil {
		return fmt.Errorf("append history: %w", err)
	}
	defer unlock()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("append history: %w", err)
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("append history %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("append history %s: %w", path, err)
	}
	return nil
}

// ReadHistory reads a history file. A line that is not a history entry is an error naming
// the file and line; blank lines are skipped.
func ReadHistory(path string) ([]HistoryEntry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read history: %w", err)
	}
	defer f.Close()
	return ParseHistory(f, path)
}

// ParseHistory reads history entries, one JSON object a line, from r.
func ParseHistory(r io.Reader, fileName string) ([]HistoryEntry, error) {
	var out []HistoryEntry
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	line := 0
	for sc.Scan() {
		line++
		b := strings.TrimSpace(sc.Text())
		if b == "" {
			continue
		}
		var e HistoryEntry
		dec := json.NewDecoder(strings.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			return nil, &FormatError{fileName, line, fmt.Sprintf("not a history entry: %v", err)}
		}
		if len(e.Medians) == 0 {
			return nil, &FormatError{fileName, line, "history entry has no medians"}
		}
		for u, v := range e.Medians {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, &FormatError{fileName, line, fmt.Sprintf("median of %q is not finite", u)}
			}
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read history %s: line %d: %w", fileName, line+1, err)
	}
	return out, nil
}

// ChangePointOptions tune DetectChanges. The zero value is ready to use.
type ChangePointOptions struct {
	// Alpha bounds the chance of a false change point per history, across all its metrics
	// (0: 0.05): each metric's permutation tests run at Alpha divided by the number of
	// metrics (Bonferroni).
	Alpha float64
	// Permutations is the number of shuffles per permutation test (0: 999).
	Permutations int
	// MinSegment is the fewest entries on either side of a change point (0: 5). Shorter
	// segments let noise near a real change split off as a second, spurious one.
	MinSegment int
	// MinChange drops change points whose relative change of medians is smaller (0: keep all).
	MinChange float64
	// Seed seeds the permutations, so a history always gives the same answer.
	Seed uint64
}

// ChangePoint is a lasting shift in one metric of a history.
type ChangePoint struct {
	Unit string `json:"unit"`
	// Index is the first entry after the change; Commit and Time are that entry's.
	Index  int       `json:"index"`
	Commit string    `json:"commit,omitempty"`
	Time   time.Time `json:"time"`
	// Before and After are the medians of the segments either side (up to the neighbouring
	// change points), Change is After/Before - 1.
	Before float64 `json:"before"`
	After  float64 `json:"after"`
	Change float64 `json:"change"`
	// P is the permutation test's p-value for the split.
	P float64 `json:"p"`
	// Worse says whether the change is in the metric's worse direction.
	Worse bool `json:"worse"`
}

// DetectChanges finds change points in every metric of a history with E-divisive means
// (Matteson and James 2014, the method of MongoDB's and Hunter's performance CI): the
// split of a segment maximizing the energy distance between its two sides is kept when a
// permutation test finds it significant, and the search recurses into the segments until
// no significant split remains. Unlike a comparison of two runs, it finds drifts made of
// many small steps and changes that landed between baseline updates.
func DetectChanges(h []HistoryEntry, opt ChangePointOptions) []ChangePoint {
	if opt.Alpha <= 0 {
		opt.Alpha = 0.05
	}
	if opt.Permutations <= 0 {
		opt.Permutations = 999
	}
	if opt.MinSegment <= 0 {
		opt.MinSegment = 5
	}
	var units []string
	for _, e := range h {
		for u := range e.Medians {
			if !slices.Contains(units, u) {
				units = append(units, u)
			}
		}
	}
	slices.Sort(units)
	var out []ChangePoint
	for ui, u := range units {
		var xs []float64
		var idx []int // entry index of each value: entries without the unit are skipped
		for i, e := range h {
			if v, ok := e.Medians[u]; ok {
				xs = append(xs, v)
				idx = append(idx, i)
			}
		}
		rng := rand.New(rand.NewPCG(opt.Seed, uint64(ui)))
		cps := eDivisive(xs, opt.MinSegment, opt.Permutations, opt.Alpha/float64(len(units)), rng)
		bounds := []int{0}
		for _, cp := range cps {
			bounds = append(bounds, cp.at)
		}
		bounds = append(bounds, len(xs))
		for k, cp := range cps {
			seg := func(a, b int) float64 { return median(xs[a:b]) }
			c := ChangePoint{Unit: u, Index: idx[cp.at], Commit: h[idx[cp.at]].Commit, Time: h[idx[cp.at]].Time, P: cp.p,
				Before: seg(bounds[k], cp.at), After: seg(cp.at, bounds[k+2])}
			c.Change = relChange(c.Before, c.After)
			d, known := lookupMetric(u)
			c.Worse = (c.Change > 0) == (!known || d.lowerBetter)
			if math.Abs(c.Change) >= opt.MinChange {
				out = append(out, c)
			}
		}
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].Index < out[b].Index })
	return out
}

func relChange(before, after float64) float64 {
	switch {
	case before == after:
		return 0
	case before == 0:
		return math.Copysign(math.Inf(1), after)
	}
	return after/before - 1
}

type splitPoint struct {
	at int
	p  float64
}

// eDivisive returns the significant change points of xs in increasing order. At each step
// it takes, over all current segments, the split with the largest energy statistic, and
// stops at the first that a permutation test does not find significant at alpha.
func eDivisive(xs []float64, minSeg, perms int, alpha float64, rng *rand.Rand) []splitPoint {
	var cps []splitPoint
	bounds := []int{0, len(xs)}
	scratch := make([]float64, len(xs))
	for {
		best, bestQ, bestSeg := -1, 0.0, -1
		for s := 0; s+1 < len(bounds); s++ {
			at, q := bestSplit(xs[bounds[s]:bounds[s+1]], minSeg)
			if at >= 0 && q > bestQ {
				best, bestQ, bestSeg = bounds[s]+at, q, s
			}
		}
		if best < 0 {
			break
		}
		// Permutation test: shuffle the segment and see how often a split as strong appears.
		seg := xs[bounds[bestSeg]:bounds[bestSeg+1]]
		perm := scratch[:len(seg)]
		copy(perm, seg)
		exceed := 0
		for range perms {
			rng.Shuffle(len(perm), func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
			if _, q := bestSplit(perm, minSeg); q >= bestQ {
				exceed++
			}
		}
		p := float64(exceed+1) / float64(perms+1)
		if p >= alpha {
			break
		}
		cps = append(cps, splitPoint{best, p})
		bounds = append(bounds, best)
		slices.Sort(bounds)
	}
	slices.SortFunc(cps, func(a, b splitPoint) int { return a.at - b.at })
	return cps
}

// bestSplit returns the split t (minSeg <= t <= n-minSeg) of x maximizing the E-divisive
// statistic Q(t) = t(n-t)/n * (2 mean|a-b| - mean|a-a'| - mean|b-b'|), with a from x[:t] and
// b from x[t:], or -1 when x is too short to split. It runs in O(n^2).
func bestSplit(x []float64, minSeg int) (int, float64) {
	n := len(x)
	if n < 2*minSeg || minSeg < 2 && n < 4 {
		return -1, 0
	}
	// within[t] = sum over pairs inside x[:t]; tail[t] = sum over pairs inside x[t:].
	within := make([]float64, n+1)
	for t := 1; t <= n; t++ {
		s := 0.0
		for i := range t - 1 {
			s += math.Abs(x[i] - x[t-1])
		}
		within[t] = within[t-1] + s
	}
	tail := make([]float64, n+1)
	for t := n - 1; t >= 0; t-- {
		s := 0.0
		for j := t + 1; j < n; j++ {
			s += math.Abs(x[j] - x[t])
		}
		tail[t] = tail[t+1] + s
	}
	total := within[n]
	best, bestQ := -1, math.Inf(-1)
	lo := max(minSeg, 2)
	for t := lo; t <= n-lo; t++ {
		a, b := float64(t), float64(n-t)
		between := total - within[t] - tail[t]
		q := a * b / float64(n) * (2*between/(a*b) - within[t]/(a*(a-1)/2) - tail[t]/(b*(b-1)/2))
		if q > bestQ {
			best, bestQ = t, q
		}
	}
	return best, bestQ
}

package report

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/perfgate/perfgate/perftest"
	"github.com/perfgate/perfgate/perftest/gate"
	"github.com/perfgate/perfgate/perftest/history"
	"github.com/perfgate/perfgate/perftest/machine"
	"github.com/perfgate/perfgate/perftest/metric"
	"github.com/perfgate/perfgate/perftest/resultfile"
)

// Options say where else to look and how to compare. The zero value reads the folder
// alone and compares with the gate's defaults.
type Options struct {
	// Baselines is a folder of baselines: a case NAME without NAME.baseline.txt beside it
	// is compared with Baselines/<its hardware class>/NAME.txt, else Baselines/NAME.txt.
	Baselines string
	// History is a folder of history files (-perf.history), read besides those in the
	// results folder.
	History string
	// Alpha and Threshold are the gate's (0: its defaults), as -perf.alpha and
	// -perf.threshold set them.
	Alpha, Threshold float64
	// Metrics is the vocabulary the files are read, compared and described with (nil:
	// metric.Default()).
	Metrics *metric.Set
}

// Report is what a results folder holds, compared and ready to write.
type Report struct {
	Dir       string
	Cases     []*Case // cases that are not sweep points, by name
	Sweeps    []*Sweep
	ABs       []*AB
	Histories []*History
	// Notes are what was left out (a file that is not a result file, a bad records line),
	// each naming the file; they do not stop the report.
	Notes []error

	metrics *metric.Set // Options.Metrics
}

// Case is one result file: a run of a case, with its baseline when one was found.
type Case struct {
	Name, Path string
	Cur        *resultfile.File
	// BaselinePath and Base are the baseline found (nil: none). Diff is set when the
	// baseline was recorded for another setup: the case is then not compared.
	BaselinePath string
	Base         *resultfile.File
	Diff         string
	Compare      *gate.Report
	// Unhealthy is set when either file records problems with its run (resultfile.Healthy):
	// its numbers do not describe the requested load, and it is not compared, as the gate
	// does not compare it.
	Unhealthy error
	// Throttled and BaseThrottled are the repetitions in which a GPU slowed down.
	Throttled, BaseThrottled []machine.ThrottledRep
	// Timeline is one repetition's requests over time (nil: no records beside the file).
	Timeline *Timeline
}

// Timeline is one repetition of a case, request by request.
type Timeline struct {
	Rep int // 0-based
	// Why says how the repetition was chosen.
	Why     string
	Records []perftest.Record
	// Server holds the server's gauges sampled during the repetition (none when not recorded).
	Server []ServerSample
	// Requests counts the records of every repetition.
	Requests int
}

// ServerSample is one sample of the server's gauges during a repetition.
type ServerSample struct {
	At     time.Duration // from the repetition's start
	Values map[string]float64
}

// Sweep is a case run at several loads (perftest.Sweep): one point per load, in load order.
type Sweep struct {
	Name   string
	Points []*Case
	// X is each point's load (concurrency or rate); XLabel says which.
	X      []float64
	XLabel string
}

// AB is an interleaved A/B run: B compared with A.
type AB struct {
	Name         string
	PathA, PathB string
	A, B         *resultfile.File
	// Diff says how the two sides describe themselves differently (they are compared
	// anyway: that is what an A/B run is for).
	Diff                   string
	Compare                *gate.Report
	Unhealthy              error // as Case.Unhealthy; then Compare is nil
	ThrottledA, ThrottledB []machine.ThrottledRep
}

// History is a case's history of gated runs with its change points.
type History struct {
	Path, Case string
	Entries    []history.Entry
	Changes    []history.ChangePoint
}

// Load reads a results folder (see the package doc for what it holds) and compares every
// case that has a baseline, every A/B pair, and every history. A folder without any
// result is an error; a file that cannot be read is a Note.
func Load(dir string, opt Options) (*Report, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read results: %w", err)
	}
	r := &Report{Dir: dir, metrics: opt.Metrics}
	gopt := gate.OptionsFor(opt.Metrics, opt.Alpha, opt.Threshold)
	gopt.Noise = machine.GateNoise(opt.Metrics)
	abs := map[string]*AB{}
	var cases []*Case
	for _, e := range entries {
		name := e.Name()
		path := filepath.Join(dir, name)
		switch {
		case e.IsDir(), !strings.HasSuffix(name, ".txt"), strings.HasSuffix(name, ".baseline.txt"):
			continue
		case strings.HasSuffix(name, ".A.txt"), strings.HasSuffix(name, ".B.txt"):
			base := name[:len(name)-len(".A.txt")]
			f, ok := r.readResult(path)
			if !ok {
				continue
			}
			ab := abs[base]
			if ab == nil {
				ab = &AB{Name: f.Name}
				abs[base] = ab
			}
			if strings.HasSuffix(name, ".A.txt") {
				ab.A, ab.PathA = f, path
			} else {
				ab.B, ab.PathB = f, path
			}
		default:
			f, ok := r.readResult(path)
			if !ok {
				continue
			}
			c := &Case{Name: f.Name, Path: path, Cur: f}
			r.findBaseline(c, opt.Baselines)
			r.readTimeline(c, strings.TrimSuffix(path, ".txt"))
			if err := c.compare(gopt, r.display); err != nil {
				r.Notes = append(r.Notes, fmt.Errorf("%s not compared: %w", c.Name, err))
			}
			cases = append(cases, c)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(abs)) {
		ab := abs[k]
		if ab.A == nil || ab.B == nil {
			r.Notes = append(r.Notes, fmt.Errorf("%s: an A/B run needs both %s.A.txt and %s.B.txt; only one is there", dir, k, k))
			continue
		}
		if err := ab.compare(gopt, r.display); err != nil {
			r.Notes = append(r.Notes, fmt.Errorf("A/B %s not compared: %w", k, err))
		}
		r.ABs = append(r.ABs, ab)
	}
	r.Cases, r.Sweeps = groupSweeps(cases)
	r.readHistories(dir, opt.History)
	if len(r.Cases)+len(r.Sweeps)+len(r.ABs)+len(r.Histories) == 0 {
		return nil, fmt.Errorf("%s: no results (NAME.txt, NAME.A.txt and NAME.B.txt, *.history.jsonl): is it a -perf.out folder?%s", dir, noteList(r.Notes))
	}
	return r, nil
}

func noteList(notes []error) string {
	if len(notes) == 0 {
		return ""
	}
	return "\n" + errors.Join(notes...).Error()
}

// readResult reads a result file, noting why when it is not one.
func (r *Report) readResult(path string) (*resultfile.File, bool) {
	f, err := resultfile.Options{Metrics: r.metrics}.Read(path)
	if err != nil {
		r.Notes = append(r.Notes, fmt.Errorf("left out: %w", err))
		return nil, false
	}
	if len(f.Reps) == 0 || f.Name == "" {
		r.Notes = append(r.Notes, fmt.Errorf("left out %s: no result lines", path))
		return nil, false
	}
	return f, true
}

// findBaseline looks for the case's baseline beside it, then in the baselines folder.
func (r *Report) findBaseline(c *Case, root string) {
	base := strings.TrimSuffix(filepath.Base(c.Path), ".txt")
	candidates := []string{strings.TrimSuffix(c.Path, ".txt") + ".baseline.txt"}
	if root != "" {
		if hw := c.Cur.ConfigValue(metric.KeyHardware); hw != "" {
			candidates = append(candidates, filepath.Join(root, hw, base+".txt"))
		}
		candidates = append(candidates, filepath.Join(root, base+".txt"))
	}
	for _, p := range candidates {
		f, err := resultfile.Options{Metrics: r.metrics}.Read(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			r.Notes = append(r.Notes, fmt.Errorf("baseline of %s left out: %w", c.Name, err))
			return
		}
		c.Base, c.BaselinePath = f, p
		return
	}
}

// compare runs the gate's comparison when the case has a baseline of the same setup, as
// the gate decided it (gate.CompareAsRecorded: the looks, level and threshold the current
// file records), so that the report's verdicts are the test's.
func (c *Case) compare(opt gate.Options, display func(string) string) error {
	c.Throttled = machine.Throttled(c.Cur)
	if c.Unhealthy = healthy(c.Cur, c.Base); c.Unhealthy != nil || c.Base == nil {
		return nil
	}
	c.BaseThrottled = machine.Throttled(c.Base)
	if c.Diff = resultfile.Diff(c.Base, c.Cur, "baseline", "current"); c.Diff != "" {
		return nil
	}
	rep, err := gate.CompareAsRecorded(gated(c.Base, display(c.BaselinePath)), gated(c.Cur, display(c.Path)), opt)
	c.Compare = rep
	return err
}

func (ab *AB) compare(opt gate.Options, display func(string) string) error {
	ab.ThrottledA, ab.ThrottledB = machine.Throttled(ab.A), machine.Throttled(ab.B)
	ab.Diff = resultfile.Diff(ab.A, ab.B, "A", "B")
	if ab.Unhealthy = healthy(ab.A, ab.B); ab.Unhealthy != nil {
		return nil
	}
	rep, err := gate.CompareAsRecorded(gated(ab.A, display(ab.PathA)), gated(ab.B, display(ab.PathB)), opt)
	ab.Compare = rep
	return err
}

// healthy is the first problem the files record (nil files are left out).
func healthy(fs ...*resultfile.File) error {
	for _, f := range fs {
		if f == nil {
			continue
		}
		if err := f.Healthy(); err != nil {
			return err
		}
	}
	return nil
}

// gated is f labelled as the report names it (its machine figures, GPU telemetry among
// them, are shown by the gate and not tested).
func gated(f *resultfile.File, label string) *resultfile.File {
	g := *f
	g.Path = label
	return &g
}

// sweepX is a point's position on the load axis: its concurrency or rate.
func sweepX(f *resultfile.File) (float64, string) {
	for _, kv := range strings.Split(f.ConfigValue("load"), ",") {
		k, v, _ := strings.Cut(kv, "=")
		x, err := strconv.ParseFloat(v, 64)
		if err != nil {
			continue
		}
		switch k {
		case "concurrency":
			return x, "concurrency (requests in flight)"
		case "rate":
			return x, "offered load (requests/s)"
		}
	}
	return math.NaN(), ""
}

// groupSweeps sets apart the results named CASE/LOAD that share a CASE and differ in load.
func groupSweeps(cases []*Case) ([]*Case, []*Sweep) {
	groups := map[string][]*Case{}
	for _, c := range cases {
		if prefix, _, ok := strings.Cut(c.Name, "/"); ok {
			if x, _ := sweepX(c.Cur); !math.IsNaN(x) {
				groups[prefix] = append(groups[prefix], c)
			}
		}
	}
	var sweeps []*Sweep
	inSweep := map[*Case]bool{}
	for _, name := range slices.Sorted(maps.Keys(groups)) {
		pts := groups[name]
		if len(pts) < 2 {
			continue
		}
		slices.SortFunc(pts, func(a, b *Case) int {
			xa, _ := sweepX(a.Cur)
			xb, _ := sweepX(b.Cur)
			return cmpFloat(xa, xb)
		})
		s := &Sweep{Name: name, Points: pts}
		for _, p := range pts {
			x, label := sweepX(p.Cur)
			s.X, s.XLabel = append(s.X, x), label
			inSweep[p] = true
		}
		sweeps = append(sweeps, s)
	}
	var rest []*Case
	for _, c := range cases {
		if !inSweep[c] {
			rest = append(rest, c)
		}
	}
	slices.SortFunc(rest, func(a, b *Case) int { return strings.Compare(a.Name, b.Name) })
	return rest, sweeps
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// readHistories reads every *.history.jsonl under dir and histDir and finds change points
// with the options `perfgate history` uses.
func (r *Report) readHistories(dir, histDir string) {
	seen := map[string]bool{}
	higher := r.metrics.HigherBetter()
	for _, root := range []string{dir, histDir} {
		if root == "" {
			continue
		}
		_ = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				r.Notes = append(r.Notes, fmt.Errorf("history: %w", err))
				return nil
			}
			abs, _ := filepath.Abs(path)
			if d.IsDir() || !strings.HasSuffix(path, ".history.jsonl") || seen[abs] {
				return nil
			}
			seen[abs] = true
			h, err := history.Read(path)
			if err != nil {
				r.Notes = append(r.Notes, fmt.Errorf("left out: %w", err))
				return nil
			}
			if len(h) == 0 {
				return nil
			}
			cps := history.DetectChanges(h, history.Options{HigherBetter: higher})
			r.Histories = append(r.Histories, &History{Path: path, Case: h[len(h)-1].Case, Entries: h, Changes: cps})
			return nil
		})
	}
	slices.SortFunc(r.Histories, func(a, b *History) int { return strings.Compare(a.Path, b.Path) })
}

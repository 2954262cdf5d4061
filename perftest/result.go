package perftest

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/perfgate/perfgate/internal/atomicfile"
	"github.com/perfgate/perfgate/perftest/metric"
	"github.com/perfgate/perfgate/perftest/resultfile"
)

// Result is the outcome of a perf case: one set of metrics per repetition.
type Result struct {
	// Name is the benchmark name without the "Benchmark" prefix, e.g. "PerfQuickstart".
	Name string
	// Config holds the config lines recorded with the results, in order.
	Config []resultfile.KV
	// Reps holds the repetitions in the order they ran.
	Reps []Repetition
	// Partial is set when the run stopped before all repetitions finished.
	Partial bool
	// Problems says what makes the finished run untrustworthy or failed: each wraps
	// ErrErrorRate, ErrRateShort or ErrShortOutputs, and the result file's
	// "health" config line names them. Run fails the test on them; perfgate run exits 1;
	// perfgate compare and the gate refuse to judge such a result, and -perf.update to keep
	// it as a baseline.
	Problems []error

	count   int      // repetitions asked for
	session *Session // the session that runs more repetitions (Run's results only)
	// unfinished holds the finished requests of the repetition a stop cut short.
	unfinished []Record
}

// looks are the counts at which a sequential comparison of the result against a baseline
// looks (nil: fixed), and the first of them at which it may stop other than at the
// no-change boundary or on a regression (see Case.gateLooks).
func (r *Result) looks() ([]int, int) {
	if r.session == nil {
		return nil, 0
	}
	return r.session.c.gateLooks(*flagMinCount)
}

// Repetition is one replay of the workload.
type Repetition struct {
	Metrics  []resultfile.Metric
	Records  []Record
	Requests int
	Outcomes map[Outcome]int
	// Start is when the repetition began: every record's Scheduled is an offset from it.
	Start time.Time
	// Wall is the time from the first request's due time to the last one's end.
	Wall time.Duration
	// TokenMismatch counts requests whose streamed tokens disagree with the server's usage:
	// all of them against completion_tokens, the reasoning against reasoning_tokens.
	TokenMismatch int
	// Diag says how faithfully the client delivered the load.
	Diag Diagnostics

	server []serverSample // the server's queue and KV usage sampled during the repetition
}

// Problems of a finished run. ErrScheduleLag is no longer one (a late repetition is
// machine evidence, metric.MachineLate): it names files written before, whose health line
// says schedule-lag, and a baseline -perf.update refused because its repetitions stayed
// late when measured again.
var (
	ErrErrorRate    = errors.New("error rate over Case.MaxErrorRate")
	ErrRateShort    = errors.New("requested rate not delivered")
	ErrScheduleLag  = errors.New("schedule lag over Case.MaxScheduleLag (-perf.max-schedule-lag)")
	ErrShortOutputs = errors.New("outputs shorter than requested")
)

// problemNames are the problems' names in the "health" config line.
var problemNames = []struct {
	err  error
	name string
}{{ErrErrorRate, metric.ErrorRate}, {ErrRateShort, "rate-short"}, {ErrScheduleLag, "schedule-lag"}, {ErrShortOutputs, "short-outputs"}}

// health is the "health" config value: "ok", or the problems' names joined by "+".
func (r *Result) health() string {
	var names []string
	for _, p := range r.Problems {
		for _, n := range problemNames {
			if errors.Is(p, n.err) && !slices.Contains(names, n.name) {
				names = append(names, n.name)
			}
		}
	}
	if len(names) == 0 {
		return "ok"
	}
	return strings.Join(names, "+")
}

// problem is a sentence about a run, wrapping the sentinel error it is an instance of.
type problem struct {
	msg  string
	kind error
}

func (p problem) Error() string { return p.msg }
func (p problem) Unwrap() error { return p.kind }

// Value returns the values of a metric across repetitions.
func (r *Result) Value(unit string) []float64 {
	var out []float64
	for _, rep := range r.Reps {
		if i := slices.IndexFunc(rep.Metrics, func(m resultfile.Metric) bool { return m.Unit == unit }); i >= 0 {
			out = append(out, rep.Metrics[i].Value)
		}
	}
	return out
}

// ConfigValue returns a config line's value ("" if absent), as File has them.
func (r *Result) ConfigValue(key string) string {
	if i := slices.IndexFunc(r.Config, func(kv resultfile.KV) bool { return kv.Key == key }); i >= 0 {
		return r.Config[i].Value
	}
	if key == metric.KeyPartial && r.Partial {
		return "yes"
	}
	return ""
}

// File returns the result as its result file holds it: the config lines, the direction of
// every unit, and one line per repetition. Each call builds a new File, which the caller
// may change.
func (r *Result) File() *resultfile.File {
	f := &resultfile.File{Path: r.Name, Name: r.Name, Config: r.Config, LowerBetter: map[string]bool{}}
	if r.Partial {
		f.Config = append(slices.Clone(r.Config), resultfile.KV{Key: metric.KeyPartial, Value: "yes"})
	}
	for _, rep := range r.Reps {
		f.Append(nil, resultfile.Rep{Iters: rep.Requests, Metrics: rep.Metrics})
	}
	return f
}

// WriteFiles writes NAME.txt (benchmark format) and NAME.records.jsonl (one line per
// request, "rep" numbering repetitions from 1 as the messages do) into dir as one set:
// neither replaces a previous run's file unless both were written whole (a full disk leaves
// the previous result and its records as they were, never a new result beside old records),
// and it returns the result file's path. A partial result (a run cut short) says so in a
// "partial: yes" config line, and its records file also holds the requests that finished in
// the repetition the stop cut short, marked "partial": true. A result with no finished
// repetition writes neither file, so that it never replaces a complete result: the finished
// requests go to NAME.partial.records.jsonl instead, and the error says so.
func (r *Result) WriteFiles(dir string) (string, error) {
	base := filepath.Join(dir, fileName(r.Name))
	if len(r.Reps) == 0 {
		if len(r.unfinished) > 0 {
			if err := atomicfile.Write(base+".partial.records.jsonl", r.writeRecords); err != nil {
				return "", err
			}
			return "", fmt.Errorf("no repetition finished: %s not written (a previous result there is kept); the %d requests that finished are in %s", base+".txt", len(r.unfinished), base+".partial.records.jsonl")
		}
		return "", fmt.Errorf("no repetition finished: %s not written (a previous result there is kept)", base+".txt")
	}
	// The result file last: a reader that finds it finds its records and the server's
	// timeline. A timeline left by an earlier run, when this one sampled none, would
	// describe other repetitions: it goes.
	files := []atomicfile.File{{Path: base + ".records.jsonl", Write: r.writeRecords}}
	if r.sampledServer() {
		files = append(files, atomicfile.File{Path: base + ".server.jsonl", Write: r.writeServer})
	} else if err := os.Remove(base + ".server.jsonl"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	files = append(files, atomicfile.File{Path: base + ".txt", Write: func(w io.Writer) error { _, err := r.File().WriteTo(w); return err }})
	if err := atomicfile.WriteAll(files...); err != nil {
		return "", err
	}
	return base + ".txt", nil
}

func (r *Result) sampledServer() bool {
	for _, rep := range r.Reps {
		if len(rep.server) > 0 {
			return true
		}
	}
	return false
}

// writeServer writes the server's sampled queue and KV usage, one JSON line a sample:
// {"rep": 1, "t_ns": 250000000, "waiting": 3, "kv-usage": 0.41}, repetitions numbered from
// 1 as the records are, times from the repetition's start (package report draws them).
func (r *Result) writeServer(w io.Writer) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	type line struct {
		Rep     int      `json:"rep"`
		TNS     int64    `json:"t_ns"`
		Waiting *float64 `json:"waiting,omitempty"`
		KV      *float64 `json:"kv-usage,omitempty"`
	}
	for i, rep := range r.Reps {
		for _, p := range rep.server {
			l := line{Rep: i + 1, TNS: p.at.Sub(rep.Start).Nanoseconds()}
			if p.has&hasWaiting != 0 {
				l.Waiting = &p.waiting
			}
			if p.has&hasKV != 0 {
				l.KV = &p.kv
			}
			if err := enc.Encode(l); err != nil {
				return err
			}
		}
	}
	return bw.Flush()
}

// writeRecords writes every record, the unfinished repetition's last.
func (r *Result) writeRecords(w io.Writer) error {
	enc := json.NewEncoder(w)
	type line struct {
		Rep     int  `json:"rep"`
		Partial bool `json:"partial,omitempty"`
		*Record
	}
	for i, rep := range r.Reps {
		for j := range rep.Records {
			if err := enc.Encode(line{i + 1, false, &rep.Records[j]}); err != nil {
				return err
			}
		}
	}
	for j := range r.unfinished {
		if err := enc.Encode(line{len(r.Reps) + 1, true, &r.unfinished[j]}); err != nil {
			return err
		}
	}
	return nil
}

// fileName makes a case name safe as a file name.
func fileName(name string) string {
	return strings.NewReplacer("/", "_", " ", "_", ":", "_").Replace(name)
}

// checkHealth sets r.Problems from the case's limits: error rates over MaxErrorRate, an
// open-loop rate the client did not deliver (the first repetition of each kind is named,
// and each limit by where set sets it). A schedule lag over MaxScheduleLag is not a
// problem: it marks the repetition as measured on a busy machine (metric.MachineLate),
// which the gate reads as machine noise.
func (r *Result) checkHealth(c Case, set Settings) {
	r.Problems = nil
	limit := c.maxErrorRate()
	for i, rep := range r.Reps {
		failed := rep.Requests - rep.Outcomes[OK]
		if limit >= 0 && rep.Requests > 0 && float64(failed)/float64(rep.Requests) > limit {
			r.Problems = append(r.Problems, problem{fmt.Sprintf("repetition %d: %d of %d requests failed (over %s %.3g); first error: %s",
				i+1, failed, rep.Requests, set.Name("MaxErrorRate"), limit, firstError(rep.Records)), ErrErrorRate})
			break
		}
	}
	maxLag := c.maxScheduleLag()
	for i, rep := range r.Reps {
		d := rep.Diag
		// A short run's rate moves with its last request's lag: the client fell short only
		// when the sends took longer than the schedule by more than the lag allowed.
		behind := time.Duration(0)
		if d.RequestedRate > 0 && d.AchievedRate > 0 {
			behind = time.Duration(float64(d.Sent-1) * (1/d.AchievedRate - 1/d.RequestedRate) * float64(time.Second))
		}
		if d.RequestedRate > 0 && d.Sent > 10 && d.AchievedRate < 0.95*d.RequestedRate && behind > maxLag {
			r.Problems = append(r.Problems, problem{fmt.Sprintf("repetition %d: the client sent %.1f req/s of the %.1f requested, more than 5%% short and later than %s %v explains: the numbers do not describe the requested load (see perfgate calibrate)",
				i+1, d.AchievedRate, d.RequestedRate, set.Name("MaxScheduleLag"), maxLag), ErrRateShort})
			break
		}
	}
	if !c.AllowShortOutputs {
		for i, rep := range r.Reps {
			ok := rep.Outcomes[OK]
			if short := rep.Diag.ShortOutputs; ok > 0 && float64(short)/float64(ok) > 0.01 {
				r.Problems = append(r.Problems, problem{fmt.Sprintf("repetition %d: %d of %d requests generated fewer tokens than they asked for (the server ignores ignore_eos and min_tokens?): a server that stops early looks faster than it is; set Case.AllowShortOutputs if the workload lets the model stop",
					i+1, short, ok), ErrShortOutputs})
				break
			}
		}
	}
}

func firstError(recs []Record) string {
	for _, r := range recs {
		if r.Outcome != OK {
			return string(r.Outcome) + ": " + r.Error
		}
	}
	return "none"
}

// Summary is one line counting the outcomes of every request and summing up how the load
// was delivered over all repetitions: the line Run logs and perfgate run prints.
func (r *Result) Summary() string {
	total := map[Outcome]int{}
	n, mismatch := 0, 0
	var lag time.Duration
	var conc float64
	for _, rep := range r.Reps {
		n += rep.Requests
		mismatch += rep.TokenMismatch
		lag = max(lag, rep.Diag.LagP99)
		conc += rep.Diag.MeanConcurrency / float64(len(r.Reps))
		for o, c := range rep.Outcomes {
			total[o] += c
		}
	}
	var parts []string
	for _, o := range slices.Sorted(maps.Keys(total)) {
		parts = append(parts, string(o)+"="+strconv.Itoa(total[o]))
	}
	s := fmt.Sprintf("%s: %d repetitions, %d requests: %s; schedule lag p99 (worst repetition) %v, mean concurrency %.1f",
		r.Name, len(r.Reps), n, strings.Join(parts, " "), lag.Round(time.Microsecond), conc)
	if len(r.Reps) > 0 && r.Reps[0].Diag.RequestedRate > 0 {
		s += fmt.Sprintf(", rate %.2f of %.2f req/s requested (first repetition)", r.Reps[0].Diag.AchievedRate, r.Reps[0].Diag.RequestedRate)
	}
	var d Diagnostics
	for _, rep := range r.Reps {
		d.Retries += rep.Diag.Retries
		d.ShortOutputs += rep.Diag.ShortOutputs
		d.InputMismatch += rep.Diag.InputMismatch
		d.PerChunkITL += rep.Diag.PerChunkITL
		d.UsageRefused += rep.Diag.UsageRefused
	}
	if d.Retries > 0 {
		s += fmt.Sprintf("; %d requests resent after the server closed a kept-alive connection (not failures)", d.Retries)
	}
	if mismatch > 0 {
		s += fmt.Sprintf("; WARNING: %d requests streamed a different number of tokens than the server's usage reports (completion_tokens, or reasoning_tokens against the reasoning streamed)", mismatch)
	}
	if d.UsageRefused > 0 {
		s += fmt.Sprintf("; WARNING: %d requests reported a usage that cannot be true (see the records' usage_error): not recorded", d.UsageRefused)
	}
	if d.PerChunkITL > 0 {
		s += fmt.Sprintf("; WARNING: %d requests had chunks of several tokens the server did not count: their ITL is per chunk", d.PerChunkITL)
	}
	if d.ShortOutputs > 0 {
		s += fmt.Sprintf("; WARNING: %d requests generated fewer tokens than asked for", d.ShortOutputs)
	}
	if d.InputMismatch > 0 {
		s += fmt.Sprintf("; WARNING: for %d requests the server counted a prompt length more than 32 tokens and 10%% from the intended one (see the records' input_tokens and want_input)", d.InputMismatch)
	}
	return s
}

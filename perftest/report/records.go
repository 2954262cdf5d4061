package report

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/perfgate/perfgate/perftest"
	"github.com/perfgate/perfgate/perftest/internal/robust"
	"github.com/perfgate/perfgate/perftest/metric"
	"github.com/perfgate/perfgate/perftest/resultfile"
)

// typicalRep picks the repetition a timeline shows: the one whose output rate is nearest
// the median (the first such), so the page shows a usual repetition, not an outlier.
func typicalRep(f *resultfile.File) (int, string) {
	var vals []float64
	var idx []int
	for i, rep := range f.Reps {
		for _, m := range rep.Metrics {
			if m.Unit == metric.TokenRate {
				vals, idx = append(vals, m.Value), append(idx, i)
			}
		}
	}
	if len(vals) == 0 {
		return 0, "the first repetition"
	}
	med := robust.Median(vals)
	best := 0
	for i, v := range vals {
		if math.Abs(v-med) < math.Abs(vals[best]-med) {
			best = i
		}
	}
	return idx[best], fmt.Sprintf("repetition %d of %d, the one nearest the median output rate (%.4g tok/s)", idx[best]+1, len(f.Reps), vals[best])
}

// maxLine bounds one JSON line of records or samples: a request's token times.
const maxLine = 64 << 20

// readTimeline reads base.records.jsonl (and base.server.jsonl) for the typical repetition.
func (r *Report) readTimeline(c *Case, base string) {
	f, err := os.Open(base + ".records.jsonl")
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err != nil {
		r.Notes = append(r.Notes, fmt.Errorf("records of %s left out: %w", c.Name, err))
		return
	}
	defer f.Close()
	rep, why := typicalRep(c.Cur)
	tl := &Timeline{Rep: rep, Why: why}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	for line := 1; sc.Scan(); line++ {
		if len(strings.TrimSpace(sc.Text())) == 0 {
			continue
		}
		var rec struct {
			Rep int `json:"rep"`
			perftest.Record
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			r.Notes = append(r.Notes, fmt.Errorf("%s.records.jsonl:%d: %w (timeline left out)", base, line, err))
			return
		}
		tl.Requests++
		if rec.Rep == rep+1 { // numbered from 1 (perftest.Result.WriteFiles)
			tl.Records = append(tl.Records, rec.Record)
		}
	}
	if err := sc.Err(); err != nil {
		r.Notes = append(r.Notes, fmt.Errorf("%s.records.jsonl: %w (timeline left out)", base, err))
		return
	}
	if len(tl.Records) == 0 {
		r.Notes = append(r.Notes, fmt.Errorf("%s.records.jsonl: no records of repetition %d (timeline left out)", base, rep+1))
		return
	}
	tl.Server = r.readServer(base+".server.jsonl", rep)
	c.Timeline = tl
}

// readServer reads the server samples of one repetition (nil when there is no file).
func (r *Report) readServer(path string, rep int) []ServerSample {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		r.Notes = append(r.Notes, fmt.Errorf("server samples left out: %w", err))
		return nil
	}
	defer f.Close()
	var out []ServerSample
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4<<10), maxLine)
	for line := 1; sc.Scan(); line++ {
		if len(strings.TrimSpace(sc.Text())) == 0 {
			continue
		}
		s, err := parseServerSample(sc.Bytes())
		if err != nil {
			r.Notes = append(r.Notes, fmt.Errorf("%s:%d: %w (server samples left out)", path, line, err))
			return nil
		}
		if s.rep == rep+1 { // numbered from 1, as the records are
			out = append(out, s.ServerSample)
		}
	}
	if err := sc.Err(); err != nil {
		r.Notes = append(r.Notes, fmt.Errorf("%s: %w (server samples left out)", path, err))
		return nil
	}
	return out
}

type repSample struct {
	rep int
	ServerSample
}

// parseServerSample reads {"rep": 1, "t_ns": 123, "waiting": 3, "kv-usage": 0.4}.
func parseServerSample(b []byte) (repSample, error) {
	var m map[string]json.Number
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return repSample{}, err
	}
	s := repSample{ServerSample: ServerSample{Values: map[string]float64{}}}
	for k, v := range m {
		switch k {
		case "rep":
			n, err := strconv.Atoi(v.String())
			if err != nil || n < 0 {
				return repSample{}, fmt.Errorf("rep %q: want a repetition index", v)
			}
			s.rep = n
		case "t_ns":
			n, err := strconv.ParseInt(v.String(), 10, 64)
			if err != nil {
				return repSample{}, fmt.Errorf("t_ns %q: want nanoseconds", v)
			}
			s.At = time.Duration(n)
		default:
			f, err := v.Float64()
			if err != nil {
				return repSample{}, fmt.Errorf("%s %q: want a number", k, v)
			}
			s.Values[k] = f
		}
	}
	if _, ok := m["t_ns"]; !ok {
		return repSample{}, errors.New("no t_ns")
	}
	return s, nil
}

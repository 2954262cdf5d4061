package attrib

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/perfgate/perfgate/perftest/internal/robust"
	"github.com/perfgate/perfgate/perftest/metric"
	"github.com/perfgate/perfgate/perftest/resultfile"
)

// Fidelity sets the prefix hit ratio a workload was designed to give beside the one the
// server measured in each repetition: a run's cache state, the value of its
// metric.KeyCacheFidelity config line.
type Fidelity struct {
	// Designed is the share of prompt tokens an ideal engine prefix cache, emptied before
	// the repetition, finds cached (fixtures.WorkloadStats at Block tokens a block).
	Designed float64
	Block    int
	// Min and Max bound the ratios the server measured, one per repetition.
	Min, Max float64
	// Off counts the repetitions whose measured ratio is more than one block per prompt
	// (Block over the mean prompt length) from Designed; Reps counts those measured.
	Off, Reps int
}

// NewFidelity compares the measured ratios, one per repetition, with the design for prompts
// of islMean tokens on average.
func NewFidelity(designed float64, block int, islMean float64, measured []float64) Fidelity {
	f := Fidelity{Designed: designed, Block: block, Reps: len(measured)}
	if len(measured) == 0 {
		return f
	}
	f.Min, f.Max = slices.Min(measured), slices.Max(measured)
	tol := 0.0
	if islMean > 0 {
		tol = float64(block) / islMean
	}
	for _, m := range measured {
		if math.Abs(m-designed) > tol+1e-9 {
			f.Off++
		}
	}
	return f
}

// String is the config value: "designed=0.842,block=16,measured=0.842..0.898,off=5/6".
func (f Fidelity) String() string {
	return fmt.Sprintf("designed=%.3f,block=%d,measured=%.3f..%.3f,off=%d/%d", f.Designed, f.Block, f.Min, f.Max, f.Off, f.Reps)
}

// ParseFidelity reads a config value String wrote.
func ParseFidelity(s string) (Fidelity, error) {
	var f Fidelity
	var measured, off string
	for _, kv := range strings.Split(s, ",") {
		k, v, _ := strings.Cut(kv, "=")
		var err error
		switch k {
		case "designed":
			f.Designed, err = strconv.ParseFloat(v, 64)
		case "block":
			f.Block, err = strconv.Atoi(v)
		case "measured":
			measured = v
		case "off":
			off = v
		default:
			err = errors.New("unknown field")
		}
		if err != nil {
			return Fidelity{}, fmt.Errorf("%s %q: field %q: %w", metric.KeyCacheFidelity, s, k, err)
		}
	}
	lo, hi, ok1 := strings.Cut(measured, "..")
	n, reps, ok2 := strings.Cut(off, "/")
	var errs [4]error
	f.Min, errs[0] = strconv.ParseFloat(lo, 64)
	f.Max, errs[1] = strconv.ParseFloat(hi, 64)
	f.Off, errs[2] = strconv.Atoi(n)
	f.Reps, errs[3] = strconv.Atoi(reps)
	if err := errors.Join(errs[:]...); err != nil || !ok1 || !ok2 {
		return Fidelity{}, fmt.Errorf("%s %q: want measured=MIN..MAX and off=N/REPS: %w", metric.KeyCacheFidelity, s, err)
	}
	return f, nil
}

// describe says what a run's fidelity means, in a few words.
func (f Fidelity) describe() string {
	d := fmtNum(f.Designed)
	switch {
	case f.Off == 0:
		return "as designed, " + d
	case f.Max == 0:
		return fmt.Sprintf("nothing cached in %d of %d repetitions, designed %s: prefix caching off?", f.Off, f.Reps, d)
	case f.Max > f.Designed:
		return fmt.Sprintf("%d of %d repetitions above the designed %s, up to %s: a cache not emptied before them", f.Off, f.Reps, d, fmtNum(f.Max))
	}
	return fmt.Sprintf("%d of %d repetitions below the designed %s, down to %s: a cache too small for the working set, or prefixes scattered", f.Off, f.Reps, d, fmtNum(f.Min))
}

// CacheStates says how the cache states of two runs differ, "" when they compare alike: a
// cache reset one side had and the other did not, a prefix hit ratio that moved (by more
// than 0.05), or one side off its design and the other not. It is said before any latency
// verdict: a latency that moved with the cache state is the cache's doing first.
func CacheStates(base, cur *resultfile.File) string {
	var why []string
	br, cr := base.ConfigValue(metric.KeyCacheReset), cur.ConfigValue(metric.KeyCacheReset)
	if br != "" && cr != "" && br != cr {
		why = append(why, fmt.Sprintf("cache reset %s in the baseline, %s in the current run", br, cr))
	}
	bf, bok := fidelity(base)
	cf, cok := fidelity(cur)
	bv, cv := base.Values(metric.ServerPrefixHitRatio), cur.Values(metric.ServerPrefixHitRatio)
	moved := len(bv) > 0 && len(cv) > 0 && math.Abs(robust.Median(cv)-robust.Median(bv)) > 0.05
	if moved || bok && cok && (bf.Off == 0) != (cf.Off == 0) {
		s := fmt.Sprintf("prefix hit ratio %s in the baseline, %s in the current run", sideRatio(bv, bf, bok), sideRatio(cv, cf, cok))
		why = append(why, s)
	}
	if len(why) == 0 {
		return ""
	}
	return "the runs' cache states differ: " + strings.Join(why, "; ") + "; a latency that moved with them is the cache's doing first"
}

func fidelity(f *resultfile.File) (Fidelity, bool) {
	v := f.ConfigValue(metric.KeyCacheFidelity)
	if v == "" {
		return Fidelity{}, false
	}
	fid, err := ParseFidelity(v)
	return fid, err == nil
}

// sideRatio is one side's measured ratio, with its design where the run recorded one.
func sideRatio(vals []float64, f Fidelity, ok bool) string {
	s := "not measured"
	if len(vals) > 0 {
		s = fmtNum(robust.Median(vals))
	}
	if ok {
		s += " (" + f.describe() + ")"
	}
	return s
}

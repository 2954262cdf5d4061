package gate

import (
	"fmt"
	"maps"
	"math"
	"strconv"

	"github.com/perfgate/perfgate/perftest/metric"
	"github.com/perfgate/perfgate/perftest/resultfile"
)

// DecisionConfig returns the config lines under which a result file records what the gate
// decided with: the sequential design (metric.KeyLooks, when seq is set), the family-wise
// level (metric.KeyAlpha) and the threshold applied to every metric (metric.KeyThreshold,
// "default" for each metric's own). Written once the gate has decided, they let
// CompareAsRecorded reproduce the gate's verdicts from the files alone.
func DecisionConfig(opt Options, seq *Sequential) []resultfile.KV {
	var kv []resultfile.KV
	if seq != nil {
		kv = append(kv, resultfile.KV{Key: metric.KeyLooks, Value: seq.ConfigValue()})
	}
	thr := "default"
	if opt.Threshold > 0 {
		thr = strconv.FormatFloat(opt.Threshold, 'g', -1, 64)
	}
	return append(kv,
		resultfile.KV{Key: metric.KeyAlpha, Value: strconv.FormatFloat(cmpOr(opt.Alpha, DefaultOptions.Alpha), 'g', -1, 64)},
		resultfile.KV{Key: metric.KeyThreshold, Value: thr})
}

// recordedOptions returns opt with the level and threshold the file records that opt
// leaves unset (Alpha 0, Threshold 0): a comparison of the files then decides as the gate
// did, and an explicit level or threshold still overrides it.
func recordedOptions(f *resultfile.File, opt Options) (Options, error) {
	if v := f.ConfigValue(metric.KeyAlpha); v != "" && opt.Alpha == 0 {
		a, err := strconv.ParseFloat(v, 64)
		if err != nil || !(a > 0 && a < 1) {
			return opt, fmt.Errorf("%s: config %s: %q is not a level in (0, 1)", f.Path, metric.KeyAlpha, v)
		}
		opt.Alpha = a
	}
	if v := f.ConfigValue(metric.KeyThreshold); v != "" && v != "default" && opt.Threshold == 0 {
		t, err := strconv.ParseFloat(v, 64)
		if err != nil || !(t >= 0) || math.IsInf(t, 0) {
			return opt, fmt.Errorf(`%s: config %s: %q is neither a relative change >= 0 nor "default"`, f.Path, metric.KeyThreshold, v)
		}
		opt.Threshold = t
		if t > 0 {
			units := maps.Clone(opt.Units)
			for u, m := range units {
				m.Threshold = t
				units[u] = m
			}
			opt.Units = units
		}
	}
	if _, ok, err := ReadPairedOrder(f); err != nil {
		return opt, err
	} else if ok {
		opt.Paired = true
	}
	return opt, nil
}

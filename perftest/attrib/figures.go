package attrib

import (
	"math"
	"slices"

	"github.com/aclements/go-moremath/stats"

	"github.com/perfgate/perfgate/perftest/internal/robust"
	"github.com/perfgate/perfgate/perftest/metric"
	"github.com/perfgate/perfgate/perftest/resultfile"
)

// Figure is a server figure that moved between the two runs: its medians over each side's
// repetitions.
type Figure struct {
	Unit      string
	Base, Cur float64
}

// Suspects are the server's figures a latency's change is read with, in the order they
// are named: a changed prefix hit ratio first (the cache state the runs had), then what
// crowds the batch.
var Suspects = []string{metric.ServerPrefixHitRatio, metric.ServerPreemptions, metric.ServerWaitingPeak,
	metric.ServerKVPeak, metric.ServerSpecAcceptance, metric.ServerSpecPerDraft}

// figureNames are the Suspects as the attribution writes them.
var figureNames = map[string]string{
	metric.ServerPrefixHitRatio: "prefix hit ratio",
	metric.ServerPreemptions:    "preemptions",
	metric.ServerWaitingPeak:    "waiting peak",
	metric.ServerKVPeak:         "KV peak",
	metric.ServerSpecAcceptance: "spec acceptance",
	metric.ServerSpecPerDraft:   "accepted per draft",
}

// MovedFigures lists the Suspects that moved: both sides have them, the ranges of their
// repetitions do not overlap or a Mann-Whitney U test separates them at Alpha, and the
// medians differ by more than the figure's threshold in the default vocabulary (a share:
// a hit ratio, an acceptance rate, a KV usage, by more than 0.05 absolute).
func MovedFigures(base, cur *resultfile.File) []Figure {
	var out []Figure
	for _, u := range Suspects {
		bv, cv := base.Values(u), cur.Values(u)
		if len(bv) == 0 || len(cv) == 0 {
			continue
		}
		f := Figure{Unit: u, Base: robust.Median(bv), Cur: robust.Median(cv)}
		if separated(bv, cv) && large(u, f.Base, f.Cur) {
			out = append(out, f)
		}
	}
	return out
}

func separated(bv, cv []float64) bool {
	if slices.Max(bv) < slices.Min(cv) || slices.Max(cv) < slices.Min(bv) {
		return true
	}
	res, err := stats.MannWhitneyUTest(bv, cv, stats.LocationDiffers)
	return err == nil && res.P < Alpha
}

func large(u string, base, cur float64) bool {
	d, _ := metric.Default().Lookup(u)
	if d.Kind == metric.Fraction || d.Kind == metric.Usage {
		return math.Abs(cur-base) > 0.05
	}
	if base == 0 {
		return cur != 0
	}
	return math.Abs(cur/base-1) > max(d.Threshold, 0.05)
}

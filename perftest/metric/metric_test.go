package metric

import (
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDefault checks the vocabulary's own rules: one definition per name, figures where
// the prefixes say, thresholds by statistic, the token gap on ITL alone.
func TestDefault(t *testing.T) {
	var nilSet *Set
	assert.Equal(t, Default().Defs(), nilSet.Defs(), "the nil *Set is Default")
	seen := map[string]bool{}
	for _, d := range Default().Defs() {
		assert.False(t, seen[d.Name], "%s defined twice", d.Name)
		seen[d.Name] = true
		assert.NotEmpty(t, d.Desc, d.Name)
		figureName := strings.HasPrefix(d.Name, MachinePrefix) || strings.HasPrefix(d.Name, GPUPrefix)
		assert.Equal(t, figureName, d.Kind == Figure, "%s: a figure exactly when its name begins with a figure prefix", d.Name)
		assert.Equal(t, strings.HasPrefix(d.Name, ServerPrefix), d.Server, d.Name)
		assert.Equal(t, strings.HasSuffix(d.Name, "-sec"), d.Unit == Seconds, "%s: benchfmt reads -sec as seconds", d.Name)
		higher := d.Kind == Rate || d.Name == ServerPrefixHitRatio || d.Name == ServerSpecAcceptance || d.Name == ServerSpecPerDraft
		assert.Equal(t, higher, !d.LowerBetter, "%s: higher is better for rates, hit ratios and speculative acceptance", d.Name)
		if d.Kind == Latency && d.Stat >= P50 {
			assert.Equal(t, map[Stat]float64{P50: 0.05, P90: 0.08, P99: 0.12}[d.Stat], d.Threshold, "%s: tail percentiles get wider thresholds", d.Name)
		}
		assert.Equal(t, strings.HasPrefix(d.Name, "itl-"), d.TokenGap, d.Name)
	}
	assert.Equal(t, 21+10, len(Default().Gated()), "the runner's 21 metrics and the server's 10")
	for _, p := range []Percentiles{TTFT, ITL, TPOT, E2E, TTFO} {
		for i, d := range p.Defs("x") {
			got, ok := Default().Lookup(d.Name)
			require.True(t, ok, d.Name)
			assert.Equal(t, []string{p.P50, p.P90, p.P99}[i], got.Name)
			assert.Equal(t, []Stat{P50, P90, P99}[i], got.Stat)
		}
	}
}

func TestLookup(t *testing.T) {
	d, ok := Default().Lookup(ErrorRate)
	assert.True(t, ok)
	assert.Equal(t, Fraction, d.Kind)
	assert.True(t, d.LowerBetter)

	d, ok = Default().Lookup("gpu-fan-speed-percent")
	assert.True(t, ok, "a figure family grows by prefix")
	assert.Equal(t, Figure, d.Kind)
	assert.True(t, Default().IsFigure("machine-anything"))
	for _, u := range []string{"gpu-", "machine-", ""} {
		_, ok = Default().Lookup(u)
		assert.False(t, ok, "a prefix alone is no figure: %q", u)
	}

	d, ok = Default().Lookup("decode-sec")
	assert.False(t, ok)
	assert.Equal(t, Seconds, d.Unit, "benchfmt's convention for units it does not know")
	assert.True(t, d.LowerBetter)
	assert.True(t, Default().LowerBetter("rps"), "lower for a unit nobody knows, as the gate assumes")
	assert.False(t, Default().LowerBetter(TokenRate))
	assert.False(t, Default().IsFigure(ITLP99))
}

func TestWith(t *testing.T) {
	before := Default().Defs()
	s, err := Default().With(Def{Name: "queue-p50-sec", Unit: Seconds, Kind: Latency, Stat: P50, LowerBetter: true, Threshold: 0.05, Desc: "time in the queue"})
	require.NoError(t, err)
	d, ok := s.Lookup("queue-p50-sec")
	assert.True(t, ok)
	assert.Equal(t, "time in the queue", d.Desc)
	assert.Equal(t, len(before)+1, len(s.Defs()))
	assert.Contains(t, s.Names(), "queue-p50-sec")
	assert.True(t, s.IsFigure(GPUUtil), "the figure prefixes carry over")
	_, ok = Default().Lookup("queue-p50-sec")
	assert.False(t, ok, "With leaves its receiver as it was")
	assert.Equal(t, before, Default().Defs())

	_, err = Default().With(
		Def{Name: "two words", Kind: Rate},
		Def{Name: "", Kind: Rate},
		Def{Name: "no-kind"},
		Def{Name: "bad-threshold", Kind: Rate, Threshold: -0.1},
		Def{Name: TokenRate, Kind: Rate},
		Def{Name: "twice", Kind: Count}, Def{Name: "twice", Kind: Count},
	)
	require.Error(t, err)
	for _, want := range []string{`metric "two words": a name is one word`, `metric "": a name is one word`, "metric no-kind: no kind",
		"metric bad-threshold: threshold -0.1", "metric tok/s: defined twice", "metric twice: defined twice"} {
		assert.Contains(t, err.Error(), want, "every problem is named at once")
	}
}

func TestKinds(t *testing.T) {
	for k, want := range map[Kind]string{Latency: "a latency", Rate: "a rate", Count: "a count", Fraction: "a fraction", Usage: "a cache usage", Figure: "a machine figure", 0: "Kind(0)", 99: "Kind(99)"} {
		assert.Equal(t, want, k.String())
	}
	def := func(k Kind) Def { return Def{Name: "x", Kind: k} }
	assert.True(t, def(Fraction).Contains(1))
	assert.False(t, def(Fraction).Contains(1.01))
	assert.False(t, def(Latency).Contains(-1e-9))
	assert.True(t, def(Usage).Contains(7), "an engine's usage need not be a fraction")
	assert.True(t, def(Figure).Contains(-3))
	assert.False(t, def(Count).Contains(math.NaN()))
}

func TestHigherBetter(t *testing.T) {
	hb := Default().HigherBetter()
	assert.True(t, hb[TokenRate])
	assert.False(t, hb[TTFTP50])
	assert.NotContains(t, hb, GPUUtil, "figures are not tested for change points")
	assert.Len(t, hb, len(Default().Gated()))
}

func TestIsNote(t *testing.T) {
	for _, k := range []string{"goos", "commit", KeyHealth, KeyCacheReset, KeyServerMetrics, KeyITL, KeyLooks, KeyPartial} {
		assert.True(t, IsNote(k), k)
	}
	for _, k := range []string{KeyHardware, "backend", "model", "workload", "fingerprint", "load", "api", "race"} {
		assert.False(t, IsNote(k), "%s describes the setup", k)
	}
}

func TestParts(t *testing.T) {
	for _, m := range Parted {
		for _, ph := range Phases {
			name := Part(m, ph)
			lat, phase, ok := ParsePart(name)
			assert.True(t, ok && lat == m && phase == ph, "ParsePart(%q) = %q %q %v", name, lat, phase, ok)
			d, known := Default().Lookup(name)
			assert.True(t, known && d.Kind == Figure && d.Unit == Seconds && d.LowerBetter, "%s: %+v", name, d)
			assert.True(t, Default().IsFigure(name), "%s: a part is never gated", name)
			assert.Contains(t, d.Desc, ph)
		}
	}
	assert.Equal(t, "part-ttft-p90-queue-sec", Part(TTFTP90, PhaseQueue))
	for _, bad := range []string{"part-", "part-ttft-p90-sec", "part-ttft-p90-nap-sec", "part--queue-sec", "ttft-p90-queue-sec", "part-ttft-p90-queue"} {
		_, _, ok := ParsePart(bad)
		assert.False(t, ok, bad)
		assert.False(t, IsPart(bad), bad)
	}
}

// A GPU clock of 0 MHz or below is implausible telemetry: refused, so that it never
// explains a change as a throttled GPU (issue 22).
func TestClockMustBePositive(t *testing.T) {
	d, ok := Default().Lookup(GPUSMClockMin)
	require.True(t, ok)
	for _, v := range []float64{0, -5} {
		assert.False(t, d.Contains(v), "%g MHz", v)
		assert.Contains(t, d.RangeProblem(v), "a clock reading must be above 0 MHz")
	}
	assert.True(t, d.Contains(1410))
	assert.Empty(t, d.RangeProblem(1410))
}

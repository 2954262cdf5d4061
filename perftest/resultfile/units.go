package resultfile

import (
	"fmt"
	"maps"
	"math"
	"slices"
)

// KnownUnit is what perfgate knows of a unit it writes: which direction is better and what
// values are possible.
type KnownUnit struct {
	// LowerBetter is true for latencies, error rates and other costs, false for rates.
	LowerBetter bool
	// Min and Max bound the possible values: a latency is not negative, a fraction lies
	// in [0, 1].
	Min, Max float64
	// Kind names the quantity in messages: "a latency", "a rate", "a fraction", ...
	Kind string
}

func latency() KnownUnit { return KnownUnit{true, 0, math.Inf(1), "a latency"} }
func rate() KnownUnit    { return KnownUnit{false, 0, math.Inf(1), "a rate"} }
func fraction(lower bool) KnownUnit {
	return KnownUnit{lower, 0, 1, "a fraction"}
}

// known holds every unit perftest writes. perftest's own metric table (directions and
// thresholds) must agree with it; cmd/perfgate's tests check that it does.
var known = func() map[string]KnownUnit {
	m := map[string]KnownUnit{
		"req/s": rate(), "tok/s": rate(), "goodput-req/s": rate(),
		"error-rate": fraction(true),
		// Server-side figures scraped from /metrics around each repetition.
		"server-prefix-hit-ratio": fraction(false),
		"server-preemptions":      {true, 0, math.Inf(1), "a count"},
		"server-queue-mean-sec":   latency(),
		// Engines report the KV-cache usage as a fraction, but under names that do not
		// promise it; only the sign is certain.
		"server-kv-peak": {true, 0, math.Inf(1), "a cache usage"},
	}
	for _, q := range []string{"ttft", "itl", "tpot", "e2e"} {
		for _, p := range []string{"p50", "p90", "p99"} {
			m[q+"-"+p+"-sec"] = latency()
		}
	}
	return m
}()

// Known returns what perfgate knows of a unit it writes, and whether it is one.
func Known(unit string) (KnownUnit, bool) {
	u, ok := known[unit]
	return u, ok
}

// KnownUnits returns the units perfgate writes, sorted.
func KnownUnits() []string { return slices.Sorted(maps.Keys(known)) }

// check says what is wrong with v as a value of this unit ("" when nothing is).
func (k KnownUnit) check(v float64) string {
	switch {
	case v >= k.Min && v <= k.Max:
		return ""
	case math.IsInf(k.Max, 1):
		return k.Kind + " cannot be negative"
	}
	return fmt.Sprintf("%s lies in [%g, %g]", k.Kind, k.Min, k.Max)
}

func direction(lower bool) string {
	if lower {
		return "lower"
	}
	return "higher"
}

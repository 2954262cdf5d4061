package resultfile

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
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
	// Figure marks a figure of the machine the run happened on (perftest/machine: the
	// host's load, the GPUs' telemetry), written beside the metrics and never gated: its
	// direction is not checked, and its values only need be finite.
	Figure bool
}

func latency() KnownUnit { return nonNegative(true, "a latency") }
func rate() KnownUnit    { return nonNegative(false, "a rate") }

func fraction(lower bool) KnownUnit {
	return KnownUnit{LowerBetter: lower, Min: 0, Max: 1, Kind: "a fraction"}
}

func nonNegative(lower bool, kind string) KnownUnit {
	return KnownUnit{LowerBetter: lower, Min: 0, Max: math.Inf(1), Kind: kind}
}

// known holds every unit perftest writes. perftest's own metric table (directions and
// thresholds) must agree with it; cmd/perfgate's tests check that it does.
var known = func() map[string]KnownUnit {
	m := map[string]KnownUnit{
		"req/s": rate(), "tok/s": rate(), "goodput-req/s": rate(),
		"error-rate": fraction(true),
		// Server-side figures scraped from /metrics around each repetition.
		"server-prefix-hit-ratio": fraction(false),
		"server-preemptions":      nonNegative(true, "a count"),
		"server-queue-mean-sec":   latency(),
		// Engines report the KV-cache usage as a fraction, but under names that do not
		// promise it; only the sign is certain.
		"server-kv-peak": nonNegative(true, "a cache usage"),
	}
	for _, q := range []string{"ttft", "itl", "tpot", "e2e"} {
		for _, p := range []string{"p50", "p90", "p99"} {
			m[q+"-"+p+"-sec"] = latency()
		}
	}
	return m
}()

// figurePrefixes begin the units of the machine's figures (perftest/machine.IsFigure and
// IsTelemetry): a family that grows with what a machine can report, so it is known by
// prefix.
var figurePrefixes = []string{"machine-", "gpu-"}

// Known returns what perfgate knows of a unit it writes, and whether it is one: one of its
// metrics (KnownUnits), or a machine figure (a unit beginning "machine-" or "gpu-").
func Known(unit string) (KnownUnit, bool) {
	if u, ok := known[unit]; ok {
		return u, true
	}
	for _, p := range figurePrefixes {
		if len(unit) > len(p) && strings.HasPrefix(unit, p) {
			return KnownUnit{LowerBetter: true, Min: math.Inf(-1), Max: math.Inf(1), Kind: "a machine figure", Figure: true}, true
		}
	}
	return KnownUnit{}, false
}

// KnownUnits returns the metrics perfgate writes, sorted (the machine figures, known by
// prefix, are not listed).
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

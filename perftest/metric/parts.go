package metric

import (
	"slices"
	"strings"
)

// Parts of a latency: where the time of the requests that make up one of its percentiles
// went, per repetition, for attributing a change of the latency to its causes. A part is a
// figure (never gated) named PartPrefix + the latency's name without "-sec" + "-" + the
// phase + "-sec": "part-ttft-p90-queue-sec" is the mean queue time of the requests whose
// TTFT lies around the 90th percentile. [Part] builds the name and [ParsePart] reads it.
//
// The band of a percentile q is the requests whose latency ranks between q-0.05 and
// q+0.05 of the repetition's successful requests (at least one request): p50 is 45% to
// 55%, p90 85% to 95%, p99 94% to 100%. Each part is the mean of its phase over the band,
// and the parts of a latency add up to the band's mean latency, which lies close to the
// percentile (PhaseRest takes what the others do not explain). A phase is written only
// where every request of the band has it: the client's phases always, the server's where
// a per-request source (an OTLP span, llama.cpp's timings, TensorRT-LLM's perf metrics)
// was joined to all of them; without them the rest holds the server's time too, and the
// server's histograms (ServerQueueMean, ServerPrefillMean, ...) are what is left to
// attribute it with.
const PartPrefix = "part-"

// The phases of a latency, in the order a request goes through them.
const (
	// PhaseLag is the schedule lag: from the request's scheduled time to its sending.
	PhaseLag = "lag"
	// PhaseConnect is the time to open a new connection (0 on a kept-alive one).
	PhaseConnect = "connect"
	// PhaseSend is the time to write the request, once connected.
	PhaseSend = "send"
	// PhaseQueue, PhasePrefill and PhaseDecode are the server's own account (per request):
	// waiting to be scheduled, from scheduling to the first token, from the first token to
	// the last (E2E only).
	PhaseQueue   = "queue"
	PhasePrefill = "prefill"
	PhaseDecode  = "decode"
	// PhaseTransit is the time from the server's first token to its arrival at the client,
	// on the two wall clocks (TTFT only, and only where the source gives the server's wall
	// clock, an OTLP span, and the clocks agree).
	PhaseTransit = "transit"
	// PhaseRest is what the other phases leave of the band's mean latency: the network
	// (both ways, but for the transit measured), the server's time outside its queue and
	// model (tokenizing, detokenizing, its HTTP layer), and the server's whole time where no
	// per-request source was joined.
	PhaseRest = "rest"
)

// Phases lists the phases in order.
var Phases = []string{PhaseLag, PhaseConnect, PhaseSend, PhaseQueue, PhasePrefill, PhaseDecode, PhaseTransit, PhaseRest}

// Parted lists the latencies whose parts the runner writes.
var Parted = []string{TTFTP50, TTFTP90, TTFTP99, E2EP50, E2EP90, E2EP99}

// Part is the name of the part of latency (a metric name ending "-sec") spent in phase:
// Part("ttft-p90-sec", "queue") is "part-ttft-p90-queue-sec".
func Part(latency, phase string) string {
	return PartPrefix + strings.TrimSuffix(latency, "-sec") + "-" + phase + "-sec"
}

// ParsePart splits a part's name into its latency and phase: "part-ttft-p90-queue-sec"
// is "ttft-p90-sec" and "queue". ok is false for a name that is not a part.
func ParsePart(name string) (latency, phase string, ok bool) {
	rest, ok := strings.CutPrefix(name, PartPrefix)
	if !ok {
		return "", "", false
	}
	if rest, ok = strings.CutSuffix(rest, "-sec"); !ok {
		return "", "", false
	}
	i := strings.LastIndexByte(rest, '-')
	if i <= 0 || !slices.Contains(Phases, rest[i+1:]) {
		return "", "", false
	}
	return rest[:i] + "-sec", rest[i+1:], true
}

// IsPart reports whether name is a part of a latency.
func IsPart(name string) bool {
	_, _, ok := ParsePart(name)
	return ok
}

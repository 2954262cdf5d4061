package metric

// Config keys a result file carries that do not describe the setup: they say where and
// when a run happened, or how far its numbers can be trusted. Two runs that differ in them
// measured the same thing (see IsNote); every other key (backend, model, image, workload,
// fingerprint, load, api, ...) must match for two runs to be compared.
const (
	// KeyHealth is "ok", or the problems of the run joined by "+": error-rate, rate-short,
	// schedule-lag, short-outputs.
	KeyHealth = "health"
	// KeyCacheReset says whether every repetition started from an emptied prefix cache:
	// "yes", "unavailable", "failed" or "ineffective".
	KeyCacheReset = "cache-reset"
	// KeyServerMetrics lists the server's figures read ("prefix-hit-ratio,..."), "none" or
	// "unavailable".
	KeyServerMetrics = "server-metrics"
	// KeyServerTiming says where the server's own account of each request came from, for
	// attributing a latency to its phases: the per-request sources joined to the records,
	// "otlp" (spans the server exported), "timings" (llama.cpp's, on the stream),
	// "perf-metrics" (TensorRT-LLM's /perf_metrics), joined by "+"; "histograms" when only
	// the server's histograms split its time (per repetition, not per request); "none".
	// A source that gave only some requests is written with the share it gave,
	// "otlp:0.93".
	KeyServerTiming = "server-timing"
	// KeyITL is "per-token", or "per-chunk" when chunks carried several tokens the server
	// did not count.
	KeyITL = "itl"
	// KeyLooks is the sequential design a run was recorded under (perftest/gate's
	// Sequential).
	KeyLooks = "looks"
	// KeyPartial is "yes" on a run cut short.
	KeyPartial = "partial"
	// KeyCacheFidelity sets the prefix hit ratio the workload was designed to give beside
	// the one the server measured, where it measured one: "designed=0.842,block=16,
	// measured=0.842..0.898,off=5/6", off counting the repetitions whose measured ratio
	// is more than one block per prompt from the design (a cache that was not emptied, one
	// too small for the working set, a router that scattered a prefix).
	KeyCacheFidelity = "cache-fidelity"
	// KeyAlpha is the family-wise significance level the gate decided with
	// (-perf.alpha), written with KeyLooks once the gate has decided, so that a comparison
	// of the files reproduces the gate's verdicts.
	KeyAlpha = "gate-alpha"
	// KeyThreshold is the threshold the gate decided with (-perf.threshold): a relative
	// change applied to every metric, or "default" for each metric's own.
	KeyThreshold = "gate-threshold"
	// KeyABOrder is how a paired A/B run ordered its repetitions (perftest/gate's
	// PairedOrder): "blocks ABBA seed 42". A file with it is one side of a paired run,
	// compared pair by pair.
	KeyABOrder = "ab-order"
)

// KeyHardwareFallback is on a run whose hardware class is a fallback: nvidia-smi was on
// PATH but did not name the GPUs ("timeout", "output-over-limit", "failed" or
// "no-gpu-named", perftest/machine's HardwareError), so the run was recorded as "cpu".
const KeyHardwareFallback = "hardware-fallback"

// KeyHardware records the class of machine a run happened on. It describes the setup, but
// only when both runs record it: files from before perfgate recorded it lack the key.
const KeyHardware = "hardware"

// notes are the keys IsNote reports: perfgate's own and those `go test` writes.
var notes = map[string]bool{"goos": true, "goarch": true, "cpu": true, "pkg": true, "date": true, "commit": true, "host": true,
	KeyCacheReset: true, KeyHealth: true, KeyServerMetrics: true, KeyServerTiming: true, KeyITL: true, KeyLooks: true, KeyPartial: true, KeyCacheFidelity: true, KeyAlpha: true, KeyThreshold: true, KeyABOrder: true,
	KeyHardwareFallback: true}

// IsNote reports whether a config key says where and when a run happened or how it went
// (goos, goarch, cpu, pkg, date, commit, host, and the Key constants above but
// KeyHardware) rather than what was measured: such keys need not match for two runs to be
// compared.
func IsNote(key string) bool { return notes[key] }

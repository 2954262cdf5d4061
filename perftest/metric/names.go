package metric

import (
	"fmt"
	"slices"
)

// The metrics the runner writes of every repetition. A latency counts from the request's
// scheduled send time, not from when a worker got to it.
const (
	TTFTP50 = "ttft-p50-sec"
	TTFTP90 = "ttft-p90-sec"
	TTFTP99 = "ttft-p99-sec"
	ITLP50  = "itl-p50-sec"
	ITLP90  = "itl-p90-sec"
	ITLP99  = "itl-p99-sec"
	TPOTP50 = "tpot-p50-sec"
	TPOTP90 = "tpot-p90-sec"
	TPOTP99 = "tpot-p99-sec"
	E2EP50  = "e2e-p50-sec"
	E2EP90  = "e2e-p90-sec"
	E2EP99  = "e2e-p99-sec"
	// TTFO is the time to the first output token: the first token that is not reasoning
	// (answer text, a tool call, a refusal). Written when some request of the repetition
	// streamed reasoning: without it, the first output token is the first token (TTFT).
	TTFOP50 = "ttfo-p50-sec"
	TTFOP90 = "ttfo-p90-sec"
	TTFOP99 = "ttfo-p99-sec"

	RequestRate = "req/s"
	TokenRate   = "tok/s"
	// Goodput is written only when the case sets SLOs.
	Goodput   = "goodput-req/s"
	ErrorRate = "error-rate"
	// InputRate and PromptTokenRate are written for pooling APIs (embeddings, rerank),
	// which generate nothing: inputs embedded or documents scored per second, and the
	// prompt tokens the server counted per second.
	InputRate       = "inputs/s"
	PromptTokenRate = "prompt-tok/s"
)

// The server's figures, scraped from its /metrics around each repetition (for the metrics
// the engine exports).
const (
	ServerPrefix         = "server-" // begins every server figure's name
	ServerPrefixHitRatio = "server-prefix-hit-ratio"
	ServerPreemptions    = "server-preemptions"
	ServerQueueMean      = "server-queue-mean-sec"
	// ServerPrefillMean, ServerDecodeMean and ServerInferenceMean are the server's mean
	// times, by its own histograms, from a request's first scheduling to its first token,
	// from the first token to the last, and from the first scheduling to the last token
	// (vLLM's request_prefill_time_seconds, request_decode_time_seconds,
	// request_inference_time_seconds). With ServerQueueMean they split the server's part of
	// a latency when no per-request source is joined (histogram-level attribution).
	ServerPrefillMean   = "server-prefill-mean-sec"
	ServerDecodeMean    = "server-decode-mean-sec"
	ServerInferenceMean = "server-inference-mean-sec"
	ServerKVPeak        = "server-kv-peak"
	ServerWaitingPeak   = "server-waiting-peak"
	// Speculative decoding: the share of draft tokens the target model accepted, and how
	// many draft tokens it accepted per draft (per verification step of a request).
	ServerSpecAcceptance = "server-spec-acceptance-rate"
	ServerSpecPerDraft   = "server-spec-accepted-per-draft"
)

// The machine's figures: how busy the client's machine was while a repetition ran, and its
// GPUs' telemetry. Data for judging a comparison, never gated. Any unit beginning
// MachinePrefix or GPUPrefix is a figure too: the families grow with what a machine can
// report.
const (
	MachinePrefix = "machine-"
	GPUPrefix     = "gpu-"

	// MachineOthersCPU is the CPU used by every other process on the machine, in cores on
	// average (all CPU time in /proc/stat less this process's own, over the wall time).
	MachineOthersCPU = "machine-others-cpu"
	// MachinePressure is the share of the wall time in which some runnable task waited
	// for a CPU (Linux pressure stall information, /proc/pressure/cpu "some").
	MachinePressure = "machine-cpu-pressure"
	// MachineSteal is the share of CPU time the hypervisor gave to other guests
	// (/proc/stat).
	MachineSteal = "machine-steal"
	// MachineWake* are how late a goroutine sleeping 1 ms (machine.WakeInterval) woke up:
	// the scheduling delay every timestamp of the client, and every step of a simulator
	// in the same process, is exposed to.
	MachineWakeP50  = "machine-wake-p50-sec"
	MachineWakeP90  = "machine-wake-p90-sec"
	MachineWakeP99  = "machine-wake-p99-sec"
	MachineWakeMean = "machine-wake-mean-sec"
	// MachineLate is 1 for an open-loop repetition whose client fell behind its schedule
	// (schedule lag p99 over Case.MaxScheduleLag, -perf.max-schedule-lag), else 0: a client
	// that cannot keep its schedule is evidence of a busy machine, like the wake-up delay.
	MachineLate = "machine-schedule-late"

	// The GPUs' telemetry, sampled with nvidia-smi during the repetition.
	GPUSMClock      = "gpu-sm-clock-mhz"     // mean SM clock
	GPUSMClockMin   = "gpu-sm-clock-min-mhz" // lowest SM clock read
	GPUMemClock     = "gpu-mem-clock-mhz"    // mean memory clock
	GPUPower        = "gpu-power-watts"      // mean power draw per GPU
	GPUPowerPeak    = "gpu-power-peak-watts" // highest power draw read
	GPUTempMax      = "gpu-temp-max-celsius" // highest temperature read
	GPUMemPeak      = "gpu-mem-peak-mib"     // most memory used
	GPUUtil         = "gpu-util-percent"     // mean utilization
	GPUThrottled    = "gpu-throttled"        // share of readings with a Slowdowns reason active
	GPUThrottleMask = "gpu-throttle-reasons" // every reason active in the repetition (bitmask)
)

// Percentiles names the three percentiles perfgate writes of a latency measured per
// request (or per gap between tokens).
type Percentiles struct {
	// Label titles the quantity in reports: "TTFT".
	Label         string
	P50, P90, P99 string
}

// The latencies measured per request.
var (
	TTFT = Percentiles{"TTFT", TTFTP50, TTFTP90, TTFTP99}
	ITL  = Percentiles{"ITL", ITLP50, ITLP90, ITLP99}
	TPOT = Percentiles{"TPOT", TPOTP50, TPOTP90, TPOTP99}
	E2E  = Percentiles{"E2E", E2EP50, E2EP90, E2EP99}
	TTFO = Percentiles{"TTFO", TTFOP50, TTFOP90, TTFOP99}
)

// Defs returns the three definitions of the percentiles: latencies, lower better, with the
// default thresholds of 5%, 8% and 12% (tail percentiles move more from run to run than
// medians), described as desc followed by the percentile.
func (p Percentiles) Defs(desc string) []Def {
	d := func(name string, s Stat, thr float64, which string) Def {
		return Def{Name: name, Unit: Seconds, Kind: Latency, Stat: s, LowerBetter: true, Threshold: thr,
			TokenGap: p == ITL, Desc: fmt.Sprintf("%s; %s over the repetition's requests", desc, which)}
	}
	return []Def{d(p.P50, P50, 0.05, "median"), d(p.P90, P90, 0.08, "90th percentile"), d(p.P99, P99, 0.12, "99th percentile")}
}

var defaultSet = mustSet([]string{MachinePrefix, GPUPrefix, PartPrefix}, slices.Concat(
	TTFT.Defs("time to first token, from the scheduled send"),
	ITL.Defs("inter-token latency, the gap between two streamed tokens"),
	TPOT.Defs("time per output token after the first: (end-to-end − TTFT) / (tokens − 1)"),
	E2E.Defs("end-to-end latency, from the scheduled send to the last token"),
	TTFO.Defs("time to first output token: the first that is not reasoning (answer text, a tool call, a refusal), from the scheduled send"),
	[]Def{
		{Name: RequestRate, Unit: "req/s", Kind: Rate, Threshold: 0.05, Desc: "requests that succeeded per second of the repetition"},
		{Name: TokenRate, Unit: "tok/s", Kind: Rate, Threshold: 0.05, Desc: "output tokens per second of the repetition"},
		{Name: Goodput, Unit: "req/s", Kind: Rate, Threshold: 0.05, Desc: "requests per second that met every SLO of the case"},
		{Name: ErrorRate, Kind: Fraction, LowerBetter: true, Desc: "share of requests that failed"},
		{Name: InputRate, Unit: "inputs/s", Kind: Rate, Threshold: 0.05, Desc: "inputs embedded or documents scored per second of the repetition (pooling APIs)"},
		{Name: PromptTokenRate, Unit: "tok/s", Kind: Rate, Threshold: 0.05, Desc: "prompt tokens the server counted per second of the repetition (pooling APIs)"},

		{Name: ServerPrefixHitRatio, Kind: Fraction, Threshold: 0.05, Server: true,
			Desc: "share of prompt tokens the server found in its prefix cache, by its own counters"},
		{Name: ServerPreemptions, Kind: Count, LowerBetter: true, Threshold: 0.10, Server: true,
			Desc: "requests the server preempted (pushed out of the batch) during the repetition"},
		{Name: ServerQueueMean, Unit: Seconds, Kind: Latency, Stat: Mean, LowerBetter: true, Threshold: 0.10, Server: true,
			Desc: "mean time a request waited in the server's queue"},
		{Name: ServerPrefillMean, Unit: Seconds, Kind: Latency, Stat: Mean, LowerBetter: true, Threshold: 0.10, Server: true,
			Desc: "mean time from a request's first scheduling to its first token, by the server's histogram"},
		{Name: ServerDecodeMean, Unit: Seconds, Kind: Latency, Stat: Mean, LowerBetter: true, Threshold: 0.10, Server: true,
			Desc: "mean time from a request's first token to its last, by the server's histogram"},
		{Name: ServerInferenceMean, Unit: Seconds, Kind: Latency, Stat: Mean, LowerBetter: true, Threshold: 0.10, Server: true,
			Desc: "mean time from a request's first scheduling to its last token, by the server's histogram"},
		{Name: ServerKVPeak, Kind: Usage, LowerBetter: true, Threshold: 0.10, Server: true,
			Desc: "highest KV-cache usage the server reported (a share of its capacity in most engines)"},
		{Name: ServerWaitingPeak, Kind: Count, LowerBetter: true, Threshold: 0.10, Server: true,
			Desc: "most requests waiting in the server's queue at once, sampled every 250 ms during the repetition"},
		{Name: ServerSpecAcceptance, Kind: Fraction, Threshold: 0.10, Server: true, OnlyWhen: "speculative decoding",
			Desc: "share of the speculative draft tokens the target model accepted, by the server's counters"},
		{Name: ServerSpecPerDraft, Kind: Count, Threshold: 0.10, Server: true, OnlyWhen: "speculative decoding",
			Desc: "draft tokens accepted per speculative draft (per verification step), by the server's counters"},

		figure(MachineOthersCPU, "cores", Whole, "CPU used by every other process on the machine, in cores"),
		figure(MachinePressure, "", Whole, "share of the time some runnable task waited for a CPU (Linux PSI)"),
		figure(MachineSteal, "", Whole, "share of CPU time the hypervisor gave to other guests"),
		figure(MachineWakeP50, Seconds, P50, "how late a goroutine sleeping 1 ms woke up; median"),
		figure(MachineWakeP90, Seconds, P90, "how late a goroutine sleeping 1 ms woke up; 90th percentile"),
		figure(MachineWakeP99, Seconds, P99, "how late a goroutine sleeping 1 ms woke up; 99th percentile"),
		figure(MachineWakeMean, Seconds, Mean, "how late a goroutine sleeping 1 ms woke up; mean"),
		figure(MachineLate, "", Whole, "1 when the open-loop client fell behind its schedule (lag p99 over the limit)"),

		figure(GPUSMClock, "MHz", Mean, "GPU SM clock, mean"),
		figure(GPUSMClockMin, "MHz", Whole, "GPU SM clock, lowest read"),
		figure(GPUMemClock, "MHz", Mean, "GPU memory clock, mean"),
		figure(GPUPower, "W", Mean, "power drawn per GPU, mean"),
		figure(GPUPowerPeak, "W", Whole, "power drawn per GPU, highest read"),
		figure(GPUTempMax, "°C", Whole, "GPU temperature, highest read"),
		figure(GPUMemPeak, "MiB", Whole, "GPU memory used, most read"),
		figure(GPUUtil, "%", Mean, "GPU utilization, mean"),
		figure(GPUThrottled, "", Whole, "share of readings with a slowdown reason active (power cap, thermal, hardware)"),
		figure(GPUThrottleMask, "", Whole, "every throttle reason active in the repetition (nvidia-smi's bitmask)"),
	})...)

func figure(name, unit string, s Stat, desc string) Def {
	return Def{Name: name, Unit: unit, Kind: Figure, Stat: s, LowerBetter: true, Desc: desc}
}

// Package perftest is the API a perf case is written in: performance regression tests of
// LLM inference serving as ordinary `go test` cases.
//
// A case names a [Target] (an OpenAI-compatible server: the simulator from backends/mock,
// a backend container, or [Endpoint] for a server you run), a workload from package
// fixtures, and a [Load]:
//
//	func TestPerfChat(t *testing.T) {
//		srv := mock.Start(t, mock.Config{})
//		res := perftest.Run(t, perftest.Case{
//			Target:   srv,
//			Workload: fixtures.SharedPrefix{ISL: 3000, OSL: 150, PrefixRatio: 0.5, NumPrefixes: 4, Prompts: 200, Seed: 1},
//			Load:     perftest.Concurrency(16),
//		})
//		res.Gate(t, "../../baselines/cpu/PerfChat.txt")
//	}
//
// [Run] replays the workload Count times (-perf.count, default 10) after a warm-up, each
// repetition starting with a cold prefix cache where the server allows it, and measures
// every request as a streaming client: TTFT, every inter-token gap, TPOT and end-to-end
// latency from the moment the request was due, each SSE event stamped when its bytes
// arrived, before any JSON decoding. Every token counts with its kind (answer text,
// reasoning, tool-call arguments, a refusal): TTFT is the first of any kind, TTFO the first
// that is not reasoning. Embeddings and rerank ([Embeddings], [Rerank]) are measured by
// their latency and the inputs they take per second. A repetition becomes one line in Go benchmark format
// with percentiles, throughput, goodput, error rate and the server's own Prometheus
// metrics; config lines (backend, model, hardware class, workload fingerprint, load) say
// what was measured. Failed requests are counted outcomes, never a reason to stop.
//
// Each request also records both sides of its time: the client's (schedule lag, a new or
// kept-alive connection, when it was written, when the first byte came back:
// [ClientPhases]) and the server's own account where the engine gives one
// ([ServerPhases]): a span it exports over OTLP, continuing the W3C traceparent every
// request carries, received by a small OTLP/HTTP receiver the session runs and joined by
// trace id; timings it puts on the stream (llama.cpp's); per-request perf metrics it
// serves apart (TensorRT-LLM's), joined by the id the stream gave the request. Each
// repetition then writes the part-* figures of its TTFT and E2E percentiles (where the
// time of the requests around each went: lag, connect, send, queue, prefill, decode,
// transit, rest; see perftest/metric) and the means of the server's phase histograms,
// from which a change of a latency is attributed (perftest/attrib); the server-timing
// config line says which sources there were, and cache-fidelity sets the prefix hit ratio
// the workload was designed to give beside the ones the server measured.
//
// [Result.Gate] compares the repetitions with a committed baseline the way benchstat
// does and fails the test only on a change that is significant, in the worse direction and
// larger than the metric's threshold; [AB] compares two servers in interleaved repetitions.
//
// Loads are closed loop ([Concurrency]), open loop ([Rate], [PoissonRate], [GammaRate],
// rate stages) or trace time ([TraceTime]); [Sweep] runs a case at several loads. The runner
// behind Run is a [Session]: [Execute] drives one outside `go test` (`perfgate run`), and
// [RunAB] drives two.
//
// What perftest knows of an engine (how to empty its prefix cache, what its metrics are
// called, which request fields it needs or refuses, how it turns reasoning on and which
// APIs it serves) it learns from small optional interfaces that the engines' backend
// modules satisfy: [CacheResetter], [MetricsSource], [Vocabulary] and [Dialect].
//
// The go test entry points (Run, Result.Gate, AB, Sweep, BaselinePath, OutDir) are the only
// code of perfgate's libraries that reads flags and the environment: -perf.update,
// -perf.count, -perf.out, -perf.endpoint, -perf.alpha, -perf.threshold, -perf.hardware,
// -perf.history and -perf.summary, each with a PERFGATE_* fallback. Execute, RunAB and the
// subpackages take plain values.
//
// One package per further job: resultfile (the result and baseline files), gate (the
// statistics and the reports), history (history files and change points), machine (the
// hardware class), plot (gonum plots).
package perftest

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
// arrived, before any JSON decoding. A repetition becomes one line in Go benchmark format
// with percentiles, throughput, goodput, error rate and the server's own Prometheus
// metrics; config lines (backend, model, hardware class, workload fingerprint, load) say
// what was measured. Failed requests are counted outcomes, never a reason to stop.
//
// [Result.Gate] compares the repetitions with a committed baseline the way benchstat
// does (Mann-Whitney U from golang.org/x/perf/benchmath), corrects for testing many metrics
// at once (Holm), and fails the test only on a change that is significant, in the worse
// direction and larger than the metric's threshold. It refuses to compare runs of
// different setups and reports the smallest regression it could have detected. [Compare]
// is the same comparison on two result files, as `perfgate compare` uses it.
//
// Loads are closed loop ([Concurrency]), open loop ([Rate], [PoissonRate], [GammaRate],
// rate stages) or trace time ([TraceTime]); [Sweep] runs a case at several loads. [AB]
// alternates repetitions between two servers. [Execute] runs a case outside `go test`
// (`perfgate run`), and [Calibrate] measures how far the client's own numbers can be
// trusted on a machine.
//
// Flags of the test binary, each with a PERFGATE_* environment fallback: -perf.update,
// -perf.count, -perf.out, -perf.endpoint, -perf.alpha, -perf.threshold, -perf.hardware,
// -perf.history, -perf.summary.
package perftest

// Package backends starts LLM serving engines as containers for perf cases and gives every
// engine module the same contract.
//
// Each engine has its own testcontainers-go module in a subpackage: backends/vllm,
// backends/sglang, backends/trtllm, backends/dynamo, and backends/mockcontainer (the perfgate
// simulator as a container image built from this repository). Every module has the same shape:
//
//	req, err := vllm.Request(cfg)          // the exact testcontainers request, not started
//	ctr, err := vllm.Run(ctx, cfg, opts...) // started and ready, or an error saying why
//	ctr := vllm.Start(tb, cfg, opts...)     // for tests: skips without Docker or GPU, cleans up
//
// A started backend is a [*Container]. It satisfies perftest.Target (BaseURL) and
// perftest.Describer (Describe) structurally, so it can be passed to perftest.Run directly.
//
// # Readiness and failure
//
// A container is ready when GET /health answers 200 and GET /v1/models lists the served
// model; model loading takes minutes, so the default startup timeout is
// [DefaultStartupTimeout]. If the container exits while starting, the error carries its exit
// code and the last lines of its log. Once started, a watcher notices when the container
// exits under a running test and reports the exit code and log tail instead of leaving the
// test to fail with a wall of connection errors; [Container.Check] gives a runner the same
// diagnosis on demand.
//
// # Logs and secrets
//
// When the test ends, the container log is written to [Options.LogDir] or the test's
// artifact directory, t.ArtifactDir() (kept under -outputdir when go test runs with
// -artifacts, a temporary directory otherwise), and its tail is printed when the test
// failed. HF_TOKEN is passed from the environment to the container; its value is redacted
// from every log file, log tail and error message this package and testcontainers' logger
// produce, and it never appears in Describe.
//
// # Docker without a registry
//
// testcontainers-go starts a reaper container (Ryuk) unless TESTCONTAINERS_RYUK_DISABLED=true,
// and from inside a container it reaches published ports through the default gateway unless
// TESTCONTAINERS_HOST_OVERRIDE is set. On a machine whose Docker engine has no registry and
// runs in the same network namespace, CI must export
//
//	TESTCONTAINERS_RYUK_DISABLED=true
//	TESTCONTAINERS_HOST_OVERRIDE=localhost
//
// [SkipIfNoDocker] (which Start calls) fills both in where they are unset and it can tell
// they are needed, as does backendstest.Main, the TestMain of packages that start
// containers. Without the reaper, cleanup relies on tb.Cleanup (which runs when a test
// fails or panics), on a guard that removes containers shortly before the test binary's
// -timeout, and on removing, once per process, the containers of processes on this machine
// that died anyway. backendstest.Main also fails the run when a container the tests created
// is left behind.
//
// # Writing an engine module
//
// A module turns its Config into a [Spec] and wraps [*Container] in its own Container type;
// in this repository, the helpers the modules share (labels, readiness, request
// inspection, the transport of control routes, Docker housekeeping) are in
// backends/internal/kit, and the Run and Start of every single-container module are
// backends/internal/shell's.
package backends

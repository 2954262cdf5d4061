package workloads

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/perfgate/perfgate/backends/mock"
	"github.com/perfgate/perfgate/perftest"
	"github.com/perfgate/perfgate/perftest/gate"
	"github.com/perfgate/perfgate/perftest/resultfile"
)

// runChanged runs the named case against a changed simulator, as many repetitions as the
// case's first look takes (10). It writes no result file (perftest.Execute, not Run), so
// that -perf.out keeps the case's own result under its name and -perf.update never records
// the changed simulator.
func runChanged(t *testing.T, name string, engine mock.Config) *perftest.Result {
	t.Helper()
	c := cases[name].c
	c.Name = name
	c.Target = mock.Start(t, engine)
	res, err := perftest.Execute(t.Context(), c, perftest.ExecOptions{Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Problems) > 0 {
		t.Fatalf("the run against the changed simulator is unhealthy: %v", errors.Join(res.Problems...))
	}
	return res
}

// gateChanged gates a run of the named case against a changed simulator on the case's
// committed baseline as Result.Gate does at its first look (the machine judged), and
// returns the report and the units it flagged: REGRESSION, or INCONCLUSIVE where this
// machine is measurably busier than the baseline's and the noise can explain the change.
// Either is what the gate promises for a real change; a silent pass is not.
func gateChanged(t *testing.T, name string, res *perftest.Result) (*gate.Report, []string) {
	t.Helper()
	base, err := resultfile.Read(baseline(name))
	if err != nil {
		t.Fatal(err)
	}
	if diff := resultfile.Diff(base, res.File(), "baseline", "current"); diff != "" {
		t.Fatalf("a changed simulator must still compare as the same setup:\n%s", diff)
	}
	rep := gate.Compare(base, res.File(), perftest.GateOptions(0, 0))
	var sb strings.Builder
	_ = rep.WriteText(&sb)
	t.Logf("%s against its baseline:\n%s", name, sb.String())
	var flagged []string
	for _, d := range slices.Concat(rep.Regressions(), rep.Inconclusives()) {
		flagged = append(flagged, d.Unit)
	}
	return rep, flagged
}

// wantFlagged checks that every unit of want was flagged, and some unit with each prefix
// of anyOf.
func wantFlagged(t *testing.T, flagged, want []string, anyOf ...string) {
	t.Helper()
	for _, u := range want {
		if !slices.Contains(flagged, u) {
			t.Errorf("gate did not flag %s; regressions and inconclusive: %v", u, flagged)
		}
	}
	for _, p := range anyOf {
		if !slices.ContainsFunc(flagged, func(u string) bool { return strings.HasPrefix(u, p) }) {
			t.Errorf("gate flagged no %s* metric; regressions and inconclusive: %v", p, flagged)
		}
	}
	if slices.Contains(flagged, "error-rate") {
		t.Errorf("a slower engine fails no request, but error-rate was flagged")
	}
}

func skipUnderRace(t *testing.T) {
	if perftest.RaceEnabled {
		t.Skip("timings under -race are another setup than the baseline's; ci/check runs this without -race")
	}
}

// TestGateCatchesSlowerReasoning makes every reasoning token 20% slower
// (Reasoning.Slowdown 1.2) and checks that the gate flags the reasoning case on the
// per-token metrics (TPOT, some ITL percentile), the end-to-end latency, the token
// throughput and the time to the first answer token, which waits for the whole reasoning:
// the change is in the reasoning phase, not only in when the answer starts. Measured
// (`go test -run Gate -v ./examples/workloads`, 2-core box, 2026-12-07, twice, other
// processes at 0.1 and 1.9 cores): TPOT p50 +15.7% and +15.8%, e2e p50 +13.6%, TTFO p50
// +16.4%, tok/s -11.9%, all REGRESSION; TTFT within 2%. ITL percentiles are per-gap: p90
// moved +23.7% and +23.9%, p50 only +1.2% and +5.3% (most gaps are steps whose sequences
// mostly answer or wait), so some ITL percentile must be flagged, not a chosen one.
func TestGateCatchesSlowerReasoning(t *testing.T) {
	skipUnderRace(t)
	slow := cases["PerfReasoning"].engine
	slow.Reasoning.Slowdown = 1.2
	_, flagged := gateChanged(t, "PerfReasoning", runChanged(t, "PerfReasoning", slow))
	wantFlagged(t, flagged, []string{"tpot-p50-sec", "e2e-p50-sec", "tok/s", "ttfo-p50-sec"}, "itl-")
}

// TestGateCatchesLowerAcceptance drops the speculative acceptance rate from 0.7 to 0.5 and
// checks that the gate flags the server's acceptance rate and accepted tokens per draft
// (lower is worse), and what the users see of it: fewer tokens a step, so a longer TPOT
// or fewer tokens a second. Measured as above: acceptance rate 0.695 -> 0.489 and accepted
// per draft 2.06 -> 1.45 (-29.6%, no noise: the draws are seeded per request), tok/s
// -15.1%, TPOT p50 +18.9% and +20.2%, all REGRESSION.
func TestGateCatchesLowerAcceptance(t *testing.T) {
	skipUnderRace(t)
	low := cases["PerfSpeculative"].engine
	low.Speculative.AcceptanceRate = 0.5
	_, flagged := gateChanged(t, "PerfSpeculative", runChanged(t, "PerfSpeculative", low))
	wantFlagged(t, flagged, []string{"server-spec-acceptance-rate", "server-spec-accepted-per-draft"})
	if !slices.Contains(flagged, "tok/s") && !slices.Contains(flagged, "tpot-p50-sec") {
		t.Errorf("gate flagged neither tok/s nor tpot-p50-sec; regressions and inconclusive: %v", flagged)
	}
}

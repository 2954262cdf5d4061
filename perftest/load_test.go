package perftest

import (
	"iter"
	"math"
	"testing"
	"time"

	"github.com/perfgate/perfgate/fixtures"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoadString(t *testing.T) {
	assert.Equal(t, "concurrency=16", Concurrency(16).String())
	assert.Equal(t, "rate=20,poisson", PoissonRate(20).String())
	assert.Equal(t, "rate=5,gamma,burstiness=0.5,max-in-flight=8,requests=100", Load{Rate: 5, Arrival: Gamma, Burstiness: 0.5, MaxInFlight: 8, Requests: 100}.String())
	assert.Equal(t, "trace-time,speedup=2,duration=1m0s", Load{TraceTime: true, Speedup: 2, Duration: time.Minute}.String())
	assert.Equal(t, "rate=1,constant,stage=10s:50", Load{Rate: 1, Stages: []Stage{{10 * time.Second, 50}}}.String())
}

func TestPacerConstantAndStages(t *testing.T) {
	p := newPacer(Rate(100), 1)
	for i := range 5 {
		assert.Equal(t, time.Duration(i)*10*time.Millisecond, p.next(nil))
	}
	ramp := newPacer(Load{Rate: 10, Stages: []Stage{{time.Second, 30}}}, 1).(*ratePacer)
	assert.InDelta(t, 10, ramp.rateAt(0), 1e-9)
	assert.InDelta(t, 20, ramp.rateAt(500*time.Millisecond), 1e-9)
	assert.InDelta(t, 30, ramp.rateAt(5*time.Second), 1e-9, "holds the last stage's rate")
}

// gapStats returns the mean and coefficient of variation of n inter-arrival gaps.
func gapStats(p pacer, n int) (mean, cv float64) {
	prev := p.next(nil)
	var sum, sq float64
	for range n {
		at := p.next(nil)
		g := (at - prev).Seconds()
		prev = at
		sum += g
		sq += g * g
	}
	mean = sum / float64(n)
	return mean, math.Sqrt(sq/float64(n)-mean*mean) / mean
}

func TestPacerDistributions(t *testing.T) {
	mean, cv := gapStats(newPacer(PoissonRate(50), 1), 20000)
	assert.InDelta(t, 0.02, mean, 0.0005)
	assert.InDelta(t, 1, cv, 0.03, "exponential gaps have CV 1")
	mean, cv = gapStats(newPacer(GammaRate(50, 0.25), 1), 20000)
	assert.InDelta(t, 0.02, mean, 0.001)
	assert.InDelta(t, 2, cv, 0.1, "gamma shape k has CV 1/sqrt(k)")
	mean, cv = gapStats(newPacer(GammaRate(50, 4), 1), 20000)
	assert.InDelta(t, 0.02, mean, 0.0005)
	assert.InDelta(t, 0.5, cv, 0.03)
	// Seeded: the same schedule for the same repetition.
	a, b := newPacer(PoissonRate(50), 3), newPacer(PoissonRate(50), 3)
	for range 10 {
		assert.Equal(t, a.next(nil), b.next(nil))
	}
}

func TestOpenLoopSendsOnSchedule(t *testing.T) {
	srv := newFakeServer(t, time.Millisecond, nil)
	w := fixtures.Synthetic{ISL: 8, OSL: 4, Prompts: 30, Seed: 2}
	// The schedule is the subject, not the client's punctuality, which a busy machine
	// (or -race) spoils and the lag check would rightly fail: MaxScheduleLag is lifted.
	res := Run(t, Case{Target: srv, Workload: w, Load: Rate(200), Count: 1, Warmup: -1, MaxScheduleLag: time.Minute})
	rep := res.Reps[0]
	require.Len(t, rep.Records, 30)
	for i, r := range rep.Records {
		assert.Equal(t, time.Duration(i)*5*time.Millisecond, r.Scheduled, "request %d due on the 5 ms grid", i)
	}
	assert.InDelta(t, 200, rep.Diag.RequestedRate, 1e-6)
	assert.Equal(t, 30, rep.Diag.Sent)
	assert.Positive(t, rep.Diag.AchievedRate)
	assert.Positive(t, rep.Diag.MeanConcurrency)
	assert.Equal(t, "rate=200,constant", res.ConfigValue("load"))
}

// arrivals is a workload whose requests arrive at the given offsets.
type arrivals []time.Duration

func (a arrivals) Name() string                 { return "arrivals" }
func (a arrivals) Fingerprint() (string, error) { return "arrivals", nil }
func (a arrivals) Requests() iter.Seq2[fixtures.Request, error] {
	return func(yield func(fixtures.Request, error) bool) {
		for i, at := range a {
			if !yield(fixtures.Request{Index: i, Tokens: []int{1}, OutputTokens: 2, Arrival: at}, nil) {
				return
			}
		}
	}
}

func TestTraceTime(t *testing.T) {
	srv := newFakeServer(t, time.Millisecond, nil)
	w := arrivals{time.Second, time.Second + 40*time.Millisecond, time.Second + 100*time.Millisecond}
	res := Run(t, Case{Target: srv, Workload: w, Load: TraceTime(2), Count: 1, Warmup: -1, MaxScheduleLag: time.Minute})
	var got []time.Duration
	for _, r := range res.Reps[0].Records {
		got = append(got, r.Scheduled)
	}
	assert.Equal(t, []time.Duration{0, 20 * time.Millisecond, 50 * time.Millisecond}, got, "offsets from the first arrival, halved")
}

func TestMaxInFlightDropsInsteadOfDelaying(t *testing.T) {
	srv := newFakeServer(t, 20*time.Millisecond, nil) // 6 tokens: ~120 ms a request
	c := capture(t, nil, func(tb testing.TB) {
		Run(tb, Case{Target: srv, Workload: small, Load: Load{Rate: 200, MaxInFlight: 2}, Count: 1, Warmup: -1, MaxErrorRate: -1, MaxScheduleLag: time.Minute})
	})
	assert.Empty(t, c.errors())
	assert.Regexp(t, `dropped=\d+`, c.logged())
	assert.Contains(t, c.logged(), "ok=")
}

func TestRequestAndDurationLimits(t *testing.T) {
	srv := newFakeServer(t, time.Millisecond, nil)
	res := Run(t, Case{Target: srv, Workload: small, Load: Load{Concurrency: 2, Requests: 5}, Count: 2, Warmup: -1})
	assert.Equal(t, 5, res.Reps[0].Requests)
	assert.Equal(t, "concurrency=2,requests=5", res.ConfigValue("load"))

	slow := newFakeServer(t, 10*time.Millisecond, nil)
	w := fixtures.Synthetic{ISL: 8, OSL: 4, Prompts: 1000, Seed: 1}
	// The limits are the subject here, not the client's punctuality: a busy machine may send
	// late, which the lag check would rightly fail.
	res = Run(t, Case{Target: slow, Workload: w, Load: Load{Rate: 100, Duration: 200 * time.Millisecond}, Count: 1, Warmup: -1, MaxScheduleLag: time.Minute})
	n := res.Reps[0].Requests
	assert.Greater(t, n, 5)
	assert.Less(t, n, 100, "no new request after Duration")
}

func TestRateNotDeliveredFailsLoudly(t *testing.T) {
	res := &Result{Reps: []Repetition{{Requests: 100, Outcomes: map[Outcome]int{OK: 100},
		Diag: Diagnostics{Sent: 100, RequestedRate: 2000, AchievedRate: 1500, LagP99: 30 * time.Millisecond}}}}
	res.checkHealth(Case{Load: Rate(2000)}, nil)
	require.Len(t, res.Problems, 1)
	assert.ErrorIs(t, res.Problems[0], ErrRateShort)
	assert.Contains(t, res.Problems[0].Error(), "the client sent 1500.0 req/s of the 2000.0 requested")
	res.Reps[0].Diag.AchievedRate = 1990
	res.checkHealth(Case{Load: Rate(2000)}, nil)
	assert.Empty(t, res.Problems, "a schedule lag over the limit is machine evidence (metric.MachineLate), not a problem")
	// 20 requests whose last went out 33 ms late: 107 of 129 req/s, but within the lag
	// the case allows (seen on a busy machine).
	res.Reps[0].Diag = Diagnostics{Sent: 20, RequestedRate: 128.9, AchievedRate: 107, LagP99: 40 * time.Millisecond}
	res.checkHealth(Case{Load: Rate(100), MaxScheduleLag: time.Second}, nil)
	assert.Empty(t, res.Problems)
	res.checkHealth(Case{Load: Rate(100), MaxScheduleLag: 20 * time.Millisecond}, nil)
	require.Len(t, res.Problems, 1)
	assert.ErrorIs(t, res.Problems[0], ErrRateShort)
}

//go:build linux

package perftest

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/perfgate/perfgate/fixtures"
)

// BenchmarkPacing measures open-loop pacing: each run sends 2 seconds of arrivals at the
// rate through the real dispatcher and client, to an in-memory transport (so the figures
// are the client's and the pacer's alone), and reports the schedule lag (p50, p99), the
// rate delivered, the dispatcher thread's CPU as a share of one core (pacing, request
// building included) and the process's CPU per request. The closed sub-benchmark sends
// the same requests closed loop, for the CPU per request without pacing. busy-neighbour
// runs a busy-loop process beside it, taking one core. The floor sub-benchmarks time the
// dispatcher's waiter alone, how late it wakes with nothing else to do: the lag cannot be
// lower.
//
//	go test -run '^$' -bench BenchmarkPacing -count 5 ./perftest
//
// ns/op is the wall time of a run and means nothing here; ns/op is left as Go reports it.
func BenchmarkPacing(b *testing.B) {
	for _, tc := range []struct {
		name string
		rate float64
		busy bool
	}{{"open/rate=2000", 2000, false}, {"open/rate=5000", 5000, false}, {"open/rate=2000/busy-neighbour", 2000, true}} {
		b.Run(tc.name, func(b *testing.B) {
			if tc.busy {
				busyNeighbour(b)
			}
			n := int(2 * tc.rate)
			for b.Loop() {
				s := memSession(Rate(tc.rate), n)
				pac := &pacing{}
				cpu0 := processCPU()
				recs, err := s.openLoop(context.Background(), n, pac)
				cpu := processCPU() - cpu0
				if err != nil || len(recs) != n {
					b.Fatalf("%d of %d records: %v", len(recs), n, err)
				}
				d := diagnose(recs, s.c.Load, pac)
				wall := time.Since(pac.start)
				b.ReportMetric(float64(d.LagP50.Microseconds()), "lag-p50-µs")
				b.ReportMetric(float64(d.LagP99.Microseconds()), "lag-p99-µs")
				b.ReportMetric(d.AchievedRate, "req/s")
				b.ReportMetric(100*d.AchievedRate/d.RequestedRate, "rate-%")
				if pac.dispatchCPU >= 0 {
					b.ReportMetric(100*pac.dispatchCPU.Seconds()/wall.Seconds(), "pacer-cpu-%")
				}
				b.ReportMetric(float64(cpu.Microseconds())/float64(n), "cpu-µs/req")
			}
		})
	}
	// The floor: how late the dispatcher's waiter itself wakes, with nothing else to do.
	for _, rate := range []float64{2000, 5000} {
		b.Run(fmt.Sprintf("floor/rate=%g", rate), func(b *testing.B) {
			n := int(2 * rate)
			gap := time.Duration(float64(time.Second) / rate)
			for b.Loop() {
				late := make([]time.Duration, 0, n)
				finished := make(chan struct{})
				go func() {
					defer close(finished)
					w := newWaiter()
					t0 := time.Now()
					for i := range n {
						due := t0.Add(time.Duration(i) * gap)
						w.until(context.Background(), due)
						late = append(late, time.Since(due))
					}
				}()
				<-finished
				slices.Sort(late)
				b.ReportMetric(float64(late[(n-1)/2].Microseconds()), "wake-late-p50-µs")
				b.ReportMetric(float64(late[n*99/100].Microseconds()), "wake-late-p99-µs")
			}
		})
	}
	b.Run("closed/requests=4000", func(b *testing.B) {
		const n = 4000
		for b.Loop() {
			s := memSession(Concurrency(4), n)
			cpu0 := processCPU()
			recs, err := s.closedLoop(context.Background(), 4, n, &pacing{})
			cpu := processCPU() - cpu0
			if err != nil || len(recs) != n {
				b.Fatalf("%d of %d records: %v", len(recs), n, err)
			}
			b.ReportMetric(float64(cpu.Microseconds())/float64(n), "cpu-µs/req")
		}
	})
}

// memSession is a session whose client answers every request from memory with a stream
// of two tokens.
func memSession(l Load, requests int) *Session {
	c := Case{Workload: fixtures.Synthetic{ISL: 16, OSL: 2, Prompts: requests, Seed: 1}, Load: l}
	cl := newClient("http://mem", "m", c)
	cl.http.Transport = memTransport{tokenStream(2)}
	return &Session{c: c, client: cl}
}

// busyNeighbour runs a busy loop in another process until the benchmark ends.
func busyNeighbour(b *testing.B) {
	b.Helper()
	cmd := exec.Command("sh", "-c", "while :; do :; done")
	if err := cmd.Start(); err != nil {
		b.Skipf("no busy-loop process (%v)", err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
}

// processCPU is the user and system CPU time the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(fmt.Sprintf("getrusage: %v", err))
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

package perftest

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/perfgate/perfgate/perftest/machine"
	"github.com/perfgate/perfgate/perftest/metric"
	"github.com/perfgate/perfgate/perftest/resultfile"
)

// repetition replays the workload once under the case's load, with the server's metrics
// scraped around it. Cut short, it returns the records so far with the error.
func (s *Session) repetition(ctx context.Context) (Repetition, error) {
	l := s.c.Load
	probe := machine.StartProbe()
	var gpu *machine.GPUSampler
	if machine.HardwareClass() != "cpu" { // nvidia-smi found a GPU
		gpu = machine.StartGPUSampler(ctx, "", time.Second)
	}
	stopScrape := s.scraper.watch(ctx, 250*time.Millisecond)
	pac := &pacing{}
	var (
		recs []Record
		err  error
	)
	if l.closed() {
		recs, err = s.closedLoop(ctx, l.Concurrency, l.Requests, pac)
	} else {
		recs, err = s.openLoop(ctx, l.Requests, pac)
	}
	window, scrapeErr := stopScrape()
	load := probe.Stop()
	var gpuStats machine.GPUStats
	if gpu != nil {
		gpuStats = gpu.Stop()
		switch {
		case !gpuStats.Sampled:
			s.note("gpu", "perftest: GPU telemetry: %s: results have no gpu-* figures, so a throttled GPU cannot be told from slower code", gpuStats.Note)
		case gpuStats.Throttled():
			s.logf("perftest: repetition %d: %s", len(s.result.Reps)+1, gpuStats)
		}
	}
	if err != nil {
		return Repetition{Records: recs}, err
	}
	if len(load.Missing) > 0 {
		s.note("machine", "perftest: machine: %s: not recorded, so a busier machine on one side cannot be told from slower code for them", strings.Join(load.Missing, "; "))
	}
	slices.SortFunc(recs, func(a, b Record) int { return a.Index - b.Index })
	sum := summarize(recs, s.c.SLO)
	rep := Repetition{
		Metrics:       slices.Concat(sum.metrics(s.c.SLO), window.metrics(), load.Metrics(), gpuStats.Metrics()),
		Records:       recs,
		Requests:      sum.requests,
		Outcomes:      sum.outcomes,
		Start:         pac.start,
		Wall:          sum.wall,
		TokenMismatch: sum.tokenMismatch,
		Diag:          diagnose(recs, l, pac),
	}
	if window != nil {
		rep.server = window.timeline
	}
	switch {
	case scrapeErr != nil:
		s.note("scrape", "perftest: server metrics: %v: the repetitions it happens in have no server-* figures", scrapeErr)
	case window != nil && len(window.dropped) > 0:
		s.note("nonfinite", "perftest: server metrics: %s had non-finite values (NaN or Inf), left out", strings.Join(window.dropped, ", "))
	}
	if window != nil && len(window.backwards) > 0 {
		s.logf("perftest: repetition %d: server counters %s went backwards (did the server restart?): their server-* figures are left out of this repetition", len(s.result.Reps)+1, strings.Join(window.backwards, ", "))
	}
	rep.Diag.Retries, rep.Diag.ShortOutputs, rep.Diag.InputMismatch, rep.Diag.PerChunkITL = sum.retries, sum.short, sum.inputOff, sum.perChunk
	rep.Diag.UsageRefused = sum.usageRefused
	if !l.closed() {
		rep.Metrics = append(rep.Metrics, s.lateness(rep.Diag.LagP99))
	}
	return rep, nil
}

// lateness is an open-loop repetition's metric.MachineLate figure: 1, said in the log,
// when its schedule lag p99 is over the case's limit.
func (s *Session) lateness(lag time.Duration) resultfile.Metric {
	if lag <= s.c.maxScheduleLag() {
		return resultfile.Metric{Unit: metric.MachineLate, Value: 0}
	}
	s.logf("perftest: repetition %d: schedule lag p99 %v is over %s %v: the client could not keep its schedule, so this machine is busy; the repetition counts as machine evidence (latencies that regress against a punctual baseline are INCONCLUSIVE), not as a failure",
		len(s.result.Reps)+1, lag.Round(10*time.Microsecond), s.settings.Name("MaxScheduleLag"), s.c.maxScheduleLag())
	return resultfile.Metric{Unit: metric.MachineLate, Value: 1}
}

// Package attrib says why a latency changed between two runs of a case. It splits the
// change of a latency percentile (metric.Parted: TTFT and E2E at p50, p90, p99) into the
// causes its requests spent their time in, from the part-* figures the runner writes per
// repetition (metric.Part), each cause's shift with its own uncertainty over the
// repetitions, and names the server's figures that moved with it (prefix hit ratio,
// preemptions, waiting requests, KV usage, speculative acceptance), a changed prefix hit
// ratio first: it is the first suspect.
//
// The causes are the phases of metric.Phases, grouped:
//
//   - client: the schedule lag, connecting and sending (metric.PhaseLag, PhaseConnect,
//     PhaseSend);
//   - queue, prefill, decode: the server's own account of each request (an OTLP span,
//     llama.cpp's timings, TensorRT-LLM's perf metrics), or, where no per-request source
//     was joined, the server's histogram means (metric.ServerQueueMean, ...), which cover
//     every request of the repetition and not only those around the percentile
//     (Attribution.Histograms says so);
//   - network: the transit of the first token (metric.PhaseTransit) and, where the server
//     tells its queue and prefill per request, the rest of each request's latency: the
//     network both ways and the server's HTTP layer;
//   - rest: what is left where the server's time is not split per request;
//   - unexplained: how the percentile moved beyond the mean of the requests around it that
//     the parts describe.
//
// A phase one side has and the other lacks is counted in the rest of the side that has it,
// so that both sides split the same way. Per repetition the causes add up to the latency
// exactly; the shift of each is the difference of its means over the repetitions, so the
// shifts add up to the change of the latency's mean.
package attrib

import (
	"math"
	"slices"

	"github.com/aclements/go-moremath/stats"

	"github.com/perfgate/perfgate/perftest/metric"
	"github.com/perfgate/perfgate/perftest/resultfile"
)

// The causes of a latency, in the order Attribution.Causes lists them.
const (
	Client      = "client"
	Queue       = "queue"
	Prefill     = "prefill"
	Decode      = "decode"
	Network     = "network"
	Rest        = "rest"
	Unexplained = "unexplained"
)

// Alpha is the family-wise level of the causes' intervals: each of k causes gets a
// 1-Alpha/k interval (Bonferroni).
const Alpha = 0.05

// MinShare is the least shift, as a share of the baseline's mean latency, that a cause
// must have to count as moved: a smaller one is noise, whatever its interval (two runs on
// one busy machine drift apart by a few percent in every phase, which no interval over
// the repetitions of each sees). It is the gate's threshold for a median.
const MinShare = 0.05

// Cause is one cause's part of a latency's change.
type Cause struct {
	Name string
	// Base and Cur are the cause's mean time over each side's repetitions, in seconds.
	Base, Cur float64
	// Shift is Cur - Base; Lo and Hi bound it (a 1-Alpha/k Welch interval over the
	// repetitions of both sides).
	Shift, Lo, Hi float64
	// Moved: the interval excludes 0 and the shift is at least MinShare of the baseline's
	// latency.
	Moved bool
}

// Attribution is the split of one latency's change.
type Attribution struct {
	// Latency is the metric's name ("ttft-p90-sec"); Base and Cur its means over the
	// repetitions, in seconds; Change is Cur - Base.
	Latency     string
	Base, Cur   float64
	Change      float64
	NBase, NCur int
	Causes      []Cause
	// Histograms: the server's part is split by its histogram means (all requests of a
	// repetition), not per request.
	Histograms bool
	// Figures are the server's figures that moved, the prefix hit ratio first.
	Figures []Figure
}

// Share is the part of the change the named cause takes (its shift over the change; 0
// when the cause is absent or the latency did not change).
func (a *Attribution) Share(cause string) float64 {
	for _, c := range a.Causes {
		if c.Name == cause && a.Change != 0 {
			return c.Shift / a.Change
		}
	}
	return 0
}

// Cause returns the named cause (ok false when absent).
func (a *Attribution) Cause(name string) (Cause, bool) {
	for _, c := range a.Causes {
		if c.Name == name {
			return c, true
		}
	}
	return Cause{}, false
}

// Parted reports whether the files hold the parts of latency (a name of metric.Parted)
// on both sides, so that Attribute can split its change.
func Parted(base, cur *resultfile.File, latency string) bool {
	p := metric.Part(latency, metric.PhaseRest)
	return slices.Contains(base.Units, p) && slices.Contains(cur.Units, p)
}

// Attribute splits the change of latency between base and cur into its causes. ok is false
// when either side lacks the latency's parts or has fewer than two repetitions with them.
func Attribute(base, cur *resultfile.File, latency string) (a Attribution, ok bool) {
	if !Parted(base, cur, latency) {
		return Attribution{}, false
	}
	phases := commonPhases(base, cur, latency)
	hist := !slices.Contains(phases, metric.PhaseQueue) && !slices.Contains(phases, metric.PhasePrefill) &&
		hasUnits(base, cur, histUnits(latency)...)
	names, bv := split(base, latency, phases, hist)
	_, cv := split(cur, latency, phases, hist)
	if len(bv) < 2 || len(cv) < 2 {
		return Attribution{}, false
	}
	names, bv, cv = dropEmpty(names, bv, cv)
	a = Attribution{Latency: latency, NBase: len(bv), NCur: len(cv), Histograms: hist}
	total := len(names) // the latency itself, after the causes
	a.Base, a.Cur = colMean(bv, total), colMean(cv, total)
	a.Change = a.Cur - a.Base
	lo, hi := welch(bv, cv, len(names), Alpha/float64(len(names)))
	for i, n := range names {
		c := Cause{Name: n, Base: colMean(bv, i), Cur: colMean(cv, i), Lo: lo[i], Hi: hi[i]}
		c.Shift = c.Cur - c.Base
		c.Moved = (c.Lo > 0 || c.Hi < 0) && math.Abs(c.Shift) >= MinShare*math.Abs(a.Base)
		a.Causes = append(a.Causes, c)
	}
	a.Figures = MovedFigures(base, cur)
	return a, true
}

// commonPhases lists the phases of latency whose parts every repetition of both files has.
func commonPhases(base, cur *resultfile.File, latency string) []string {
	var out []string
	for _, ph := range metric.Phases {
		u := metric.Part(latency, ph)
		if everyRep(base, u) && everyRep(cur, u) {
			out = append(out, ph)
		}
	}
	return out
}

// everyRep reports whether every repetition of f that has any part has unit u.
func everyRep(f *resultfile.File, u string) bool {
	n := 0
	for _, r := range f.Reps {
		v := values(r)
		if !slices.ContainsFunc(r.Metrics, func(m resultfile.Metric) bool { return metric.IsPart(m.Unit) }) {
			continue
		}
		if _, ok := v[u]; !ok {
			return false
		}
		n++
	}
	return n > 0
}

// hasUnits reports whether every repetition with parts of both files has every unit of us.
func hasUnits(base, cur *resultfile.File, us ...string) bool {
	for _, u := range us {
		if !everyRep(base, u) || !everyRep(cur, u) {
			return false
		}
	}
	return true
}

// histUnits are the server's histogram means that split its part of latency.
func histUnits(latency string) []string {
	if isE2E(latency) {
		return []string{metric.ServerQueueMean, metric.ServerPrefillMean, metric.ServerDecodeMean}
	}
	return []string{metric.ServerQueueMean, metric.ServerPrefillMean}
}

func isE2E(latency string) bool {
	return slices.Contains([]string{metric.E2EP50, metric.E2EP90, metric.E2EP99}, latency)
}

func values(r resultfile.Rep) map[string]float64 {
	m := make(map[string]float64, len(r.Metrics))
	for _, x := range r.Metrics {
		m[x.Unit] = x.Value
	}
	return m
}

// split returns the names of the causes and, per repetition that has the latency and every
// part needed, each cause's time followed by the latency itself.
func split(f *resultfile.File, latency string, phases []string, hist bool) (names []string, rows [][]float64) {
	perRequest := slices.Contains(phases, metric.PhaseQueue) && slices.Contains(phases, metric.PhasePrefill)
	names = []string{Client, Queue, Prefill, Decode, Network, Rest, Unexplained}
	for _, r := range f.Reps {
		v := values(r)
		lat, ok := v[latency]
		if !ok {
			continue
		}
		row := make([]float64, len(names)+1)
		parted := 0.0
		complete := true
		for _, ph := range metric.Phases {
			x, has := v[metric.Part(latency, ph)]
			if !has {
				if slices.Contains(phases, ph) {
					complete = false
				}
				continue
			}
			parted += x
			row[slices.Index(names, cause(ph, phases, perRequest))] += x
		}
		if !complete {
			continue
		}
		if hist && !splitHistograms(v, latency, names, row) {
			continue
		}
		row[slices.Index(names, Unexplained)] = lat - parted
		row[len(names)] = lat
		rows = append(rows, row)
	}
	return names, rows
}

// splitHistograms moves the server's histogram means out of the rest into queue, prefill
// (and decode, for E2E); false when the repetition lacks one of them.
func splitHistograms(v map[string]float64, latency string, names []string, row []float64) bool {
	to := []string{Queue, Prefill, Decode}
	for i, u := range histUnits(latency) {
		x, ok := v[u]
		if !ok {
			return false
		}
		row[slices.Index(names, to[i])] += x
		row[slices.Index(names, Rest)] -= x
	}
	return true
}

// cause is the cause a phase counts in: a phase the other side lacks counts in the rest.
func cause(ph string, phases []string, perRequest bool) string {
	if !slices.Contains(phases, ph) {
		ph = metric.PhaseRest
	}
	switch ph {
	case metric.PhaseLag, metric.PhaseConnect, metric.PhaseSend:
		return Client
	case metric.PhaseQueue:
		return Queue
	case metric.PhasePrefill:
		return Prefill
	case metric.PhaseDecode:
		return Decode
	case metric.PhaseTransit:
		return Network
	}
	if perRequest {
		return Network
	}
	return Rest
}

// dropEmpty leaves out the causes that are 0 in every repetition of both sides (decode
// for TTFT; the rest where the network takes it), keeping the latency's column last.
func dropEmpty(names []string, bv, cv [][]float64) ([]string, [][]float64, [][]float64) {
	var keep []int
	var out []string
	for i, n := range names {
		if slices.ContainsFunc(slices.Concat(bv, cv), func(r []float64) bool { return r[i] != 0 }) {
			keep = append(keep, i)
			out = append(out, n)
		}
	}
	keep = append(keep, len(names))
	pick := func(rows [][]float64) [][]float64 {
		res := make([][]float64, len(rows))
		for j, r := range rows {
			for _, i := range keep {
				res[j] = append(res[j], r[i])
			}
		}
		return res
	}
	return out, pick(bv), pick(cv)
}

func colMean(rows [][]float64, col int) float64 {
	s := 0.0
	for _, r := range rows {
		s += r[col]
	}
	return s / float64(len(rows))
}

// welch returns, for each of the first k columns, the bounds of a 1-alpha Welch interval
// for the difference of the column means of cur and base: the shift plus and minus
// Student's t quantile at the Welch-Satterthwaite degrees of freedom times the standard
// error. A column constant on both sides has an interval of width 0.
func welch(base, cur [][]float64, k int, alpha float64) (lo, hi []float64) {
	lo, hi = make([]float64, k), make([]float64, k)
	nb, nc := float64(len(base)), float64(len(cur))
	for i := range k {
		vb, vc := colVar(base, i)/nb, colVar(cur, i)/nc
		d := colMean(cur, i) - colMean(base, i)
		se := math.Sqrt(vb + vc)
		if se == 0 {
			lo[i], hi[i] = d, d
			continue
		}
		df := (vb + vc) * (vb + vc) / (vb*vb/(nb-1) + vc*vc/(nc-1))
		h := tQuantile(df, 1-alpha/2) * se
		lo[i], hi[i] = d-h, d+h
	}
	return lo, hi
}

// colVar is the sample variance of a column.
func colVar(rows [][]float64, col int) float64 {
	m, s := colMean(rows, col), 0.0
	for _, r := range rows {
		s += (r[col] - m) * (r[col] - m)
	}
	return s / float64(len(rows)-1)
}

// tQuantile is the p quantile of Student's t distribution with df degrees of freedom, by
// bisection of its CDF.
func tQuantile(df, p float64) float64 {
	t := stats.TDist{V: df}
	lo, hi := 0.0, 1e3
	for range 100 {
		mid := (lo + hi) / 2
		if t.CDF(mid) < p {
			lo = mid
		} else {
			hi = mid
		}
	}
	return (lo + hi) / 2
}

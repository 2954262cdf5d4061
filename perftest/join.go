package perftest

import (
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/perfgate/perfgate/perftest/internal/otlp"
	"github.com/perfgate/perfgate/perftest/metric"
	"github.com/perfgate/perfgate/perftest/resultfile"
)

// serverTiming is a session's sources of the server's own account of each request, beyond
// what the stream carries (llama.cpp's timings, read with the answer): the OTLP receiver
// the session runs while the case runs, for a target whose engine exports spans, and the
// per-request perf metrics it reads after each repetition. After every repetition it joins
// them to the records (Record.Server) and counts what it joined for the result's
// server-timing config line.
type serverTiming struct {
	recv     *otlp.Receiver // nil: no spans
	traceTo  string         // the address the target exports spans to
	perfURL  string         // "": no perf metrics
	quiet    time.Duration  // how long to wait for more spans after the last arrived
	waited   bool           // a repetition has waited for spans already
	eligible int            // successful requests of the repetitions so far
	joined   map[string]int // of them, joined to each source
	negative int            // requests whose transit came out negative: the clocks disagree
}

// spanQuiet is how long the join waits for spans after the last one arrived: vLLM's
// exporter (OpenTelemetry's BatchSpanProcessor) sends a batch every 5 seconds by default.
const spanQuiet = 6 * time.Second

// startServerTiming opens the sources the target names (MetricsSource keys "otlp-traces"
// and "perf-metrics"), saying once what it could not open.
func (s *Session) startServerTiming(base string) {
	t := &serverTiming{joined: map[string]int{}, quiet: spanQuiet}
	s.timing = t
	m, ok := s.c.Target.(MetricsSource)
	if !ok {
		return
	}
	names := m.MetricNames()
	if p := names[keyPerfMetrics]; p != "" {
		t.perfURL = base + p
	}
	if addr := names[keyOTLPTraces]; addr != "" {
		t.traceTo = addr
		r, err := receivers.open(addr)
		if err != nil {
			s.note("otlp", "perftest: server timing: %v: the server's spans cannot be received, so requests are not split by its own account of them", err)
			return
		}
		t.recv = r
	}
}

// close lets go of the receiver.
func (t *serverTiming) close() {
	if t != nil && t.recv != nil {
		receivers.release(t.recv)
	}
}

// receivers are the OTLP receivers open in the process, by address: the sessions of one
// target (an A/A comparison's two, a sweep's) share its receiver, since its server exports
// to one address. Spans are taken by trace id, so sessions whose repetitions take turns
// do not see each other's.
var receivers = &receiverSet{byAddr: map[string]*sharedReceiver{}}

type receiverSet struct {
	mu     sync.Mutex
	byAddr map[string]*sharedReceiver
}

type sharedReceiver struct {
	r    *otlp.Receiver
	addr string
	refs int
}

func (rs *receiverSet) open(addr string) (*otlp.Receiver, error) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if sh, ok := rs.byAddr[addr]; ok {
		sh.refs++
		return sh.r, nil
	}
	r, err := otlp.Listen(addr)
	if err != nil {
		return nil, err
	}
	rs.byAddr[addr] = &sharedReceiver{r: r, addr: addr, refs: 1}
	return r, nil
}

func (rs *receiverSet) release(r *otlp.Receiver) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for addr, sh := range rs.byAddr {
		if sh.r != r {
			continue
		}
		if sh.refs--; sh.refs == 0 {
			delete(rs.byAddr, addr)
			_ = r.Close()
		}
		return
	}
}

// reset forgets spans of requests before the repetition about to start (warm-up's).
func (t *serverTiming) reset() {
	if t != nil && t.recv != nil {
		t.recv.Reset()
	}
}

// joinServer joins the server's account of each request to the records of a finished
// repetition, then writes the parts of its latencies (parts.go).
func (s *Session) joinServer(ctx context.Context, rep *Repetition) {
	t := s.timing
	if t == nil {
		return
	}
	n := len(s.result.Reps) + 1
	for i := range rep.Records {
		r := &rep.Records[i]
		if r.Outcome == OK && rep.Records[i].WantResults == 0 {
			t.eligible++
			if r.Server != nil {
				t.joined[r.Server.Source]++
			}
		}
	}
	if t.recv != nil {
		s.joinSpans(ctx, rep, n)
	}
	if t.perfURL != "" {
		s.joinPerfMetrics(ctx, rep, n)
	}
	rep.Metrics = append(rep.Metrics, parts(rep.Records)...)
}

// joinSpans waits for the spans of the repetition's successful requests and joins each to
// its record by trace id.
func (s *Session) joinSpans(ctx context.Context, rep *Repetition, n int) {
	t := s.timing
	ids := make([][16]byte, 0, len(rep.Records))
	at := make([]int, 0, len(rep.Records))
	for i, r := range rep.Records {
		id, err := hex.DecodeString(r.TraceID)
		if r.Outcome != OK || r.WantResults > 0 || err != nil || len(id) != 16 {
			continue
		}
		ids, at = append(ids, [16]byte(id)), append(at, i)
	}
	quiet := t.quiet
	if t.waited && t.joined[sourceOTLP] == 0 {
		quiet = 0 // none came before: do not wait for them every repetition
	}
	t.waited = true
	ctx, cancel := context.WithTimeout(ctx, 4*t.quiet)
	defer cancel()
	got := t.recv.Wait(ctx, ids, quiet)
	for k, id := range ids {
		sp, ok := t.recv.Take(id)
		if !ok {
			continue
		}
		r := &rep.Records[at[k]]
		if r.Server == nil {
			t.joined[sourceOTLP]++
		} else if r.Server.Source != sourceOTLP {
			t.joined[r.Server.Source]--
			t.joined[sourceOTLP]++
		}
		r.Server = spanPhases(sp, r, rep.Start)
		if r.Server.Wall && r.Server.Transit < -time.Millisecond {
			t.negative++
		}
	}
	t.recv.Reset()
	switch st := t.recv.Stats(); {
	case st.Exports == 0:
		s.note("nospans", "perftest: server timing: no OTLP spans arrived at %s during repetition %d (the target exports them to %s: is the engine started with --otlp-traces-endpoint http://HOST:PORT%s and OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=http/protobuf, and can it reach this host?): the server's time is split by its histograms alone",
			t.recv.Addr(), n, t.traceTo, otlp.Path)
	case got < len(ids):
		s.note("fewspans", "perftest: server timing: %d of the %d requests of repetition %d had no span from the server (the exporter dropped or delayed them%s): their server time is not split",
			len(ids)-got, len(ids), n, refusedWhy(st))
	}
}

func refusedWhy(st otlp.Stats) string {
	if st.Refused == 0 {
		return ""
	}
	return fmt.Sprintf("; %d exports were refused, the last: %s", st.Refused, st.Last)
}

// spanPhases turns the span of request r, of a repetition that began at start, into its
// server phases: the transit of its first token is computed from the span's start (the
// request's arrival on the server's wall clock) and the client's wall clock.
func spanPhases(sp otlp.Span, r *Record, start time.Time) *ServerPhases {
	p := &ServerPhases{Source: sourceOTLP, Queue: sp.Queue, Prefill: sp.Prefill, Decode: sp.Decode, E2E: sp.E2E, TTFT: sp.TTFT,
		PromptTokens: sp.PromptTokens, CachedTokens: sp.CachedTokens, OutputTokens: sp.OutputTokens}
	if !sp.Start.IsZero() && sp.Has&otlp.HasTTFT != 0 && r.FirstToken > 0 && !start.IsZero() {
		arrived := start.Round(0).Add(r.Scheduled + r.FirstToken) // wall clock, not monotonic
		p.Wall, p.Transit = true, arrived.Sub(sp.Start.Add(sp.TTFT))
	}
	return p
}

// serverTimingNote is the result's server-timing config value (metric.KeyServerTiming),
// and says once what the repetitions lacked.
func (s *Session) serverTimingNote() string {
	t := s.timing
	if t == nil {
		return "none"
	}
	var got []string
	for _, src := range []string{sourceOTLP, sourceTimings, sourcePerfMetrics} {
		n := t.joined[src]
		switch {
		case n == 0 || t.eligible == 0:
		case n >= t.eligible:
			got = append(got, src)
		default:
			got = append(got, fmt.Sprintf("%s:%.2f", src, float64(n)/float64(t.eligible)))
		}
	}
	if t.negative > 0 {
		s.note("clocks", "perftest: server timing: %d requests came out with a negative transit (the first token arrived before the server sent it): the server's clock and this machine's disagree, so transits mean nothing here", t.negative)
	}
	if len(got) > 0 {
		return strings.Join(got, "+")
	}
	for _, rep := range s.result.Reps {
		if slices.ContainsFunc(rep.Metrics, func(m resultfile.Metric) bool {
			return m.Unit == metric.ServerQueueMean || m.Unit == metric.ServerPrefillMean
		}) {
			s.note("histograms", "perftest: server timing: the target gives no per-request account of its phases (no OTLP spans, timings on the stream or perf metrics): latencies are split by the server's histograms only")
			return "histograms"
		}
	}
	s.note("notiming", "perftest: server timing: the target gives no account of its phases, per request or by histogram: a latency's change cannot be split between the server's queue, prefill and decode")
	return "none"
}

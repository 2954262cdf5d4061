package perftest

import (
	"context"
	"fmt"
	"iter"
	"sync"
	"sync/atomic"
	"time"

	"github.com/perfgate/perfgate/fixtures"
)

// pacing carries what the schedulers know about the load they delivered.
type pacing struct {
	start     time.Time // when the repetition began
	requested float64   // open loop: requested mean rate over the schedule
	inFlight  atomic.Int64
	peak      atomic.Int64
	// dispatchCPU is the CPU time of the open-loop dispatcher's thread (-1: unknown): what
	// pacing costs, request building included.
	dispatchCPU time.Duration
}

func (p *pacing) enter() {
	n := p.inFlight.Add(1)
	for {
		old := p.peak.Load()
		if n <= old || p.peak.CompareAndSwap(old, n) {
			return
		}
	}
}

func (p *pacing) leave() { p.inFlight.Add(-1) }

// source serialises access to a workload's iterator and keeps session order: a turn waits
// for the previous turn of its session.
type source struct {
	mu       sync.Mutex
	next     func() (fixtures.Request, error, bool)
	stop     func()
	limit    int
	deadline time.Time // zero: none
	taken    int
	err      error
	sessions map[string]chan struct{}
	vocab    int // the server's vocabulary size, when known: every prompt id must be below it
}

func newSource(w fixtures.Workload, limit int, deadline time.Time, vocab int) *source {
	next, stop := iter.Pull2(w.Requests())
	return &source{next: next, stop: stop, limit: limit, deadline: deadline, sessions: map[string]chan struct{}{}, vocab: vocab}
}

// pull returns the next request, the channel closed when the previous turn of its session
// is done (nil for none), and the channel to close when this one is done (nil for none).
func (s *source) pull(ctx context.Context, name string) (req fixtures.Request, prev, done chan struct{}, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil || (s.limit > 0 && s.taken >= s.limit) || ctx.Err() != nil ||
		(!s.deadline.IsZero() && !time.Now().Before(s.deadline)) {
		return req, nil, nil, false
	}
	req, err, ok := s.next()
	if !ok {
		return req, nil, nil, false
	}
	if err != nil {
		s.err = fmt.Errorf("workload %s: %w", name, err)
		return req, nil, nil, false
	}
	if s.vocab > 0 {
		for _, id := range req.Tokens {
			if id < 0 || id >= s.vocab {
				s.err = fmt.Errorf("workload %s: request %d holds token id %d, outside the server's vocabulary of %d tokens: a server given it rejects the batch or crashes (set the workload's Vocab to %d, or --vocab-size)",
					name, req.Index, id, s.vocab, s.vocab)
				return req, nil, nil, false
			}
		}
	}
	s.taken++
	if req.Session != "" {
		prev = s.sessions[req.Session]
		done = make(chan struct{})
		s.sessions[req.Session] = done
	}
	return req, prev, done, true
}

// waitTurn blocks until the previous turn is done and the think time has passed. It returns
// false when ctx ends first.
func waitTurn(ctx context.Context, prev chan struct{}, think time.Duration) bool {
	if prev != nil {
		select {
		case <-prev:
		case <-ctx.Done():
			return false
		}
	}
	if think > 0 {
		t := time.NewTimer(think)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// collector gathers records from concurrent requests.
type collector struct {
	mu   sync.Mutex
	recs []Record
	s    *Session
}

func (c *collector) add(rec Record) {
	c.s.done.Add(1)
	if rec.Outcome != OK {
		c.s.failed.Add(1)
	}
	c.mu.Lock()
	c.recs = append(c.recs, rec)
	c.mu.Unlock()
}

func (s *Session) deadline() time.Time {
	if s.c.Load.Duration > 0 {
		return time.Now().Add(s.c.Load.Duration)
	}
	return time.Time{}
}

// closedLoop keeps conc requests in flight; a request is due when its worker is free.
// limit > 0 stops after that many requests.
func (s *Session) closedLoop(ctx context.Context, conc, limit int, pac *pacing) ([]Record, error) {
	src := newSource(s.c.Workload, limit, s.deadline(), s.vocab)
	defer src.stop()
	if pac == nil {
		pac = &pacing{}
	}
	col := &collector{s: s}
	t0 := time.Now()
	pac.start = t0
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			for {
				req, prev, done, ok := src.pull(ctx, s.c.Workload.Name())
				if !ok {
					return
				}
				if !waitTurn(ctx, prev, req.Think) {
					close(done)
					return
				}
				start := time.Now()
				var rec Record
				pac.enter()
				s.client.do(ctx, &req, nil, start, &rec)
				pac.leave()
				rec.Scheduled = start.Sub(t0)
				if done != nil {
					close(done)
				}
				col.add(rec)
			}
		})
	}
	wg.Wait()
	return col.recs, src.err
}

// openLoop sends each request at its scheduled time (Rate/Stages or trace time), whether or
// not earlier requests have finished. A later turn of a session is due when the previous
// turn finished plus its think time. One dispatcher goroutine pulls each request, builds
// its body while it waits for the send time (so that the work is not part of the schedule
// lag), sleeps to the send time on its own thread (waiter) and hands the request to a
// goroutine of its own.
func (s *Session) openLoop(ctx context.Context, limit int, pac *pacing) ([]Record, error) {
	l := s.c.Load
	var src *source
	col := &collector{s: s}
	p := newPacer(l, int(s.rep.Load()))
	var wg sync.WaitGroup
	t0 := time.Now()
	pac.start = t0
	var last time.Duration
	send := func(req fixtures.Request, body []byte, due time.Time, done chan struct{}) {
		defer func() {
			if done != nil {
				close(done)
			}
		}()
		var rec Record
		if l.MaxInFlight > 0 && pac.inFlight.Load() >= int64(l.MaxInFlight) {
			rec = Record{Index: req.Index, Session: req.Session, Turn: req.Turn, WantInput: req.InputTokens, WantOutput: req.OutputTokens,
				Outcome: Dropped, Error: fmt.Sprintf("request %d: %d requests in flight (Load.MaxInFlight)", req.Index, l.MaxInFlight)}
		} else {
			pac.enter()
			s.client.do(ctx, &req, body, due, &rec)
			pac.leave()
		}
		rec.Scheduled = due.Sub(t0)
		col.add(rec)
	}
	dispatch := func() {
		w := newWaiter()
		defer func() { pac.dispatchCPU = w.cpu() }()
		// The workload's iterator is a coroutine: made, pulled and stopped on this
		// goroutine, whose thread the waiter may lock.
		src = newSource(s.c.Workload, limit, s.deadline(), s.vocab)
		defer src.stop()
		for {
			req, prev, done, ok := src.pull(ctx, s.c.Workload.Name())
			if !ok {
				return
			}
			if req.Turn > 0 && prev != nil {
				// A follow-up turn: due when the conversation lets it be.
				wg.Go(func() {
					if !waitTurn(ctx, prev, req.Think) {
						close(done)
						return
					}
					send(req, nil, time.Now(), done)
				})
				continue
			}
			off := p.next(&req)
			last = max(last, off)
			due := t0.Add(off)
			body, err := s.client.body(&req) // while waiting, not after the due time
			if err != nil {
				body = nil // do reports it as the request's outcome
			}
			w.until(ctx, due)
			if ctx.Err() != nil {
				if done != nil {
					close(done)
				}
				return
			}
			wg.Go(func() { send(req, body, due, done) })
		}
	}
	// The dispatcher runs on a goroutine of its own, which ends with it: the waiter may
	// hold its thread (wait_linux.go).
	finished := make(chan struct{})
	go func() { defer close(finished); dispatch() }()
	<-finished
	wg.Wait()
	if n := src.taken; n > 1 && last > 0 {
		pac.requested = float64(n-1) / last.Seconds()
	}
	return col.recs, src.err
}

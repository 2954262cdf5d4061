package calibrate

import (
	"net/http"
	"slices"
	"sync"
	"time"
)

// stepLoop is burst mode's engine: each step writes the next token of every active stream,
// one after another, and stamps each chunk when its write returned; a step starts ITL after
// the previous one started, or at once when that one took longer. A stream joins the first
// step that starts TTFT after it arrived.
type stepLoop struct {
	gt   *truthServer
	wake chan struct{}
	quit chan struct{}
	done chan struct{}

	mu       sync.Mutex
	incoming []*burstStream
	stopped  bool
	drains   []time.Duration // per step: first write to the return of the last
}

type burstStream struct {
	w        http.ResponseWriter
	fl       http.Flusher
	index    int
	max      int
	join     time.Time
	times    []time.Time
	finished chan struct{} // the loop is done with w
}

func newStepLoop(gt *truthServer) *stepLoop {
	l := &stepLoop{gt: gt, wake: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
	go l.run()
	return l
}

// serve hands a stream to the loop and returns when the loop is done with it.
func (l *stepLoop) serve(w http.ResponseWriter, index, maxTokens int, join time.Time) {
	st := &burstStream{w: w, fl: w.(http.Flusher), index: index, max: maxTokens, join: join,
		times: make([]time.Time, 0, maxTokens), finished: make(chan struct{})}
	l.mu.Lock()
	if l.stopped {
		l.mu.Unlock()
		return
	}
	l.incoming = append(l.incoming, st)
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
	<-st.finished
}

func (l *stepLoop) stop() {
	l.mu.Lock()
	l.stopped = true
	l.mu.Unlock()
	close(l.quit)
	<-l.done
}

func (l *stepLoop) clearDrains() {
	l.mu.Lock()
	l.drains = l.drains[:0]
	l.mu.Unlock()
}

// drainPercentiles are the p50 and p99 of the steps' drain times since clearDrains.
func (l *stepLoop) drainPercentiles() (p50, p99 time.Duration) {
	l.mu.Lock()
	d := slices.Clone(l.drains)
	l.mu.Unlock()
	if len(d) == 0 {
		return 0, 0
	}
	slices.Sort(d)
	return d[(len(d)-1)/2], d[min(len(d)-1, int(float64(len(d))*0.99))]
}

func (l *stepLoop) run() {
	defer close(l.done)
	var active, waiting []*burstStream
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	defer func() { l.finish(active, waiting) }()
	for {
		var first time.Duration
		waiting, active, first = l.admit(waiting, active)
		if len(active) == 0 {
			if !l.sleep(timer, first, true) {
				return
			}
			continue
		}
		start := time.Now()
		var drain time.Duration
		active, drain = l.writeStep(active, start)
		l.mu.Lock()
		l.drains = append(l.drains, drain)
		l.mu.Unlock()
		if !l.sleep(timer, time.Until(start.Add(l.gt.step())), false) {
			return
		}
	}
}

// admit takes the streams handed in since the last step and moves to active every waiting
// stream whose join time has come; first is the time until the next one may join.
func (l *stepLoop) admit(waiting, active []*burstStream) (_, _ []*burstStream, first time.Duration) {
	l.mu.Lock()
	waiting = append(waiting, l.incoming...)
	clear(l.incoming)
	l.incoming = l.incoming[:0]
	l.mu.Unlock()
	now := time.Now()
	first = time.Hour
	keep := waiting[:0]
	for _, st := range waiting {
		if now.Before(st.join) {
			keep = append(keep, st)
			first = min(first, st.join.Sub(now))
		} else {
			active = append(active, st)
		}
	}
	clear(waiting[len(keep):])
	return keep, active, first
}

// writeStep writes the next token of every active stream, ends the streams that are done or
// failed, and returns those left with the step's drain time (from start to the last write).
func (l *stepLoop) writeStep(active []*burstStream, start time.Time) ([]*burstStream, time.Duration) {
	kept := active[:0]
	for _, st := range active {
		_, err := st.w.Write(chunk)
		if err == nil {
			st.fl.Flush()
		}
		// Ground truth is the moment the write returned: the chunk is in the kernel.
		st.times = append(st.times, time.Now())
		switch {
		case err != nil:
			close(st.finished)
		case len(st.times) == st.max:
			l.gt.record(st.index, st.times)
			writeEnd(st.w, st.max)
			st.fl.Flush()
			close(st.finished)
		default:
			kept = append(kept, st)
		}
	}
	drain := time.Since(start)
	clear(active[len(kept):])
	return kept, drain
}

// sleep waits d, or until a stream arrives when wakeable; false on quit.
func (l *stepLoop) sleep(timer *time.Timer, d time.Duration, wakeable bool) bool {
	timer.Reset(max(d, 0))
	defer timer.Stop()
	wake := l.wake
	if !wakeable {
		wake = nil
	}
	select {
	case <-timer.C:
	case <-wake:
	case <-l.quit:
		return false
	}
	return true
}

// finish lets go of every stream the loop still holds, and of those handed in since.
func (l *stepLoop) finish(active, waiting []*burstStream) {
	l.mu.Lock()
	waiting = append(waiting, l.incoming...)
	l.incoming = nil
	l.mu.Unlock()
	for _, st := range append(active, waiting...) {
		close(st.finished)
	}
}

// step is the time from one step's start to the next.
func (gt *truthServer) step() time.Duration {
	gt.mu.Lock()
	defer gt.mu.Unlock()
	return gt.itl
}

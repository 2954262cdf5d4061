package perftest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/perfgate/perfgate/perftest/internal/sse"
)

// watchdog bounds one request: its context ends at the request timeout, or once no event
// came for the stall timeout; it then says which of them ended it. The stall timer is not
// reset per event (a timer reset costs more than the rest of a token's bookkeeping): each
// event stores its offset, and the timer, when it fires, sleeps again for what is left of
// the stall timeout after the latest event.
type watchdog struct {
	ctx             context.Context
	cancel          context.CancelFunc
	start           time.Time
	timeout, stalls time.Duration // the request and stall timeouts
	last            atomic.Int64  // offset from start of the latest event, ns
	stalled         atomic.Bool
	finished        atomic.Bool
	timer           *time.Timer
}

// watch starts the watchdog of a request due at start.
func (c *client) watch(ctx context.Context, start time.Time) *watchdog {
	w := &watchdog{start: start, timeout: c.timeout, stalls: c.stallTimeout}
	w.ctx, w.cancel = context.WithTimeout(ctx, c.timeout)
	w.last.Store(int64(time.Since(start)))
	w.timer = time.AfterFunc(time.Duration(math.MaxInt64), w.fire)
	w.timer.Reset(c.stallTimeout)
	return w
}

func (w *watchdog) fire() {
	if w.finished.Load() {
		return
	}
	if idle := time.Since(w.start) - time.Duration(w.last.Load()); idle < w.stalls {
		w.timer.Reset(w.stalls - idle)
		return
	}
	w.stalled.Store(true)
	w.cancel()
}

// event notes an event at off from the start.
func (w *watchdog) event(off time.Duration) { w.last.Store(int64(off)) }

// stop ends the watch and the request's context.
func (w *watchdog) stop() {
	w.finished.Store(true)
	w.timer.Stop()
	w.cancel()
}

// outcome says why the request's context ended, or "" when it has not.
func (w *watchdog) outcome() Outcome {
	switch {
	case w.stalled.Load():
		return Stall
	case errors.Is(w.ctx.Err(), context.DeadlineExceeded):
		return Timeout
	case w.ctx.Err() != nil:
		return Canceled
	}
	return ""
}

// explain says what an outcome of the watchdog means, in place of the context's own error
// ("context canceled" says nothing of a stall); err for any other outcome.
func (w *watchdog) explain(o Outcome, err error, chunks int) error {
	switch o {
	case Stall:
		return fmt.Errorf("no event for %v (the stall timeout) after %d chunks", w.stalls, chunks)
	case Timeout:
		return fmt.Errorf("not done within %v (the request timeout) after %d chunks", w.timeout, chunks)
	case Canceled:
		return fmt.Errorf("the run was stopped after %d chunks: %w", chunks, context.Cause(w.ctx))
	}
	return err
}

// ended classifies an answer whose stream ended, with err, before its Done event.
func (w *watchdog) ended(err error, resp *http.Response, chunks int) (Outcome, error) {
	if o := w.outcome(); o != "" {
		return o, w.explain(o, err, chunks)
	}
	if errors.Is(err, sse.ErrLineTooLong) {
		return Malformed, fmt.Errorf("server-sent event line longer than %d bytes after %d chunks", sse.MaxLine, chunks)
	}
	return Disconnect, fmt.Errorf("stream ended before [DONE] after %d chunks%s: %w", chunks, bodyKind(resp, chunks), err)
}

//go:build !linux

package perftest

import (
	"context"
	"runtime"
	"time"
)

// A waiter sleeps the open-loop dispatcher until each send time. Where the precise sleep of
// wait_linux.go does not exist it sleeps on a Go timer to spinWindow before the send time,
// then yields in a loop until it (using only CPU no other goroutine wants, but a core).
type waiter struct{ timer *time.Timer }

// spinWindow is how long before a send time the waiter stops sleeping and yields instead:
// a Go timer can wake up to a millisecond late.
const spinWindow = 1500 * time.Microsecond

func newWaiter() *waiter {
	w := &waiter{timer: time.NewTimer(time.Hour)}
	w.timer.Stop()
	return w
}

// until returns at due, or when ctx ends.
func (w *waiter) until(ctx context.Context, due time.Time) {
	if d := time.Until(due) - spinWindow; d > 0 {
		w.timer.Reset(d)
		select {
		case <-w.timer.C:
		case <-ctx.Done():
			w.timer.Stop()
			return
		}
	}
	for time.Now().Before(due) && ctx.Err() == nil {
		runtime.Gosched()
	}
}

// cpu is unknown here.
func (w *waiter) cpu() time.Duration { return -1 }

//go:build linux

package perftest

import (
	"context"
	"errors"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// A waiter sleeps the open-loop dispatcher until each send time. On Linux it holds the
// dispatcher's goroutine on its own OS thread and sleeps that thread with
// clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME) to the send time itself, with the
// thread's timer slack set to 1 ns: the wake-up is the kernel's (tens of microseconds),
// not the Go scheduler's, whose timers wake up to a millisecond late, and nothing spins.
// Waits longer than coarseWait go through a Go timer first, so that ctx can end them.
//
// The thread is never unlocked: it ends with the goroutine, so no other goroutine runs on
// a thread with changed settings.
type waiter struct {
	base    time.Time // paired with mono: the same instant on both clocks
	mono    int64     // CLOCK_MONOTONIC at base, ns
	cpu0    int64     // the thread's CPU time at the start, ns
	timer   *time.Timer
	precise bool // clock_nanosleep works here
}

// coarseWait is the wait above which a Go timer sleeps first, to coarseWait before the
// send time; the thread sleeps the rest.
const coarseWait = 4 * time.Millisecond

// newWaiter locks the calling goroutine to its thread; call it on the dispatcher's own
// goroutine, which must end when the dispatching does.
func newWaiter() *waiter {
	runtime.LockOSThread()
	w := &waiter{timer: time.NewTimer(time.Hour), cpu0: threadCPU()}
	w.timer.Stop()
	_ = unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0) // best effort: else the default 50 µs
	var a, b unix.Timespec
	if unix.ClockGettime(unix.CLOCK_MONOTONIC, &a) == nil {
		w.base = time.Now()
		_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &b)
		w.mono = (a.Nano() + b.Nano()) / 2
		w.precise = true
	}
	return w
}

// until returns at due, or as soon as it can after ctx ends.
func (w *waiter) until(ctx context.Context, due time.Time) {
	for ctx.Err() == nil {
		d := time.Until(due)
		switch {
		case d <= 0:
			return
		case !w.precise:
			w.sleep(ctx, d)
			return
		case d > coarseWait:
			w.sleep(ctx, d-coarseWait)
			continue
		}
		ts := unix.NsecToTimespec(w.mono + int64(due.Sub(w.base)))
		switch err := unix.ClockNanosleep(unix.CLOCK_MONOTONIC, unix.TIMER_ABSTIME, &ts, nil); {
		case err == nil:
			return
		case errors.Is(err, unix.EINTR): // a signal (the Go runtime sends some): sleep on
		default:
			w.precise = false // not available here: Go timers from now on
		}
	}
}

// sleep waits d on a Go timer, or until ctx ends.
func (w *waiter) sleep(ctx context.Context, d time.Duration) {
	w.timer.Reset(d)
	select {
	case <-w.timer.C:
	case <-ctx.Done():
		w.timer.Stop()
	}
}

// cpu is the CPU time the dispatcher's thread has used since newWaiter, or -1 where it is
// unknown.
func (w *waiter) cpu() time.Duration {
	if w.cpu0 < 0 {
		return -1
	}
	return time.Duration(threadCPU() - w.cpu0)
}

func threadCPU() int64 {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts) != nil {
		return -1
	}
	return ts.Nano()
}

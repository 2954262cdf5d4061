package kit

import (
	"context"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
)

// StartContext returns the context backends.Start uses to start containers: tb.Context(),
// ending when tb's -timeout guard fires (see [GuardDeadline]) so a slow start fails with
// its own error and log tail before the test binary panics.
func StartContext(tb testing.TB) (context.Context, context.CancelFunc) {
	if d, ok := GuardDeadline(tb); ok {
		return context.WithDeadline(tb.Context(), d)
	}
	return context.WithCancel(tb.Context())
}

// GuardDeadline is when a tracked container is removed: a margin before the test binary's
// deadline (go test -timeout), or false when there is none.
func GuardDeadline(tb testing.TB) (time.Time, bool) {
	dl, ok := tb.(interface{ Deadline() (time.Time, bool) })
	if !ok {
		return time.Time{}, false
	}
	d, ok := dl.Deadline()
	if !ok {
		return time.Time{}, false
	}
	margin := min(10*time.Second, max(2*time.Second, time.Until(d)/10))
	return d.Add(-margin), true
}

// Track ties a container that backends.Run started (a *backends.Container, possibly nil)
// to tb as backends.Start does: removal with tb.Cleanup, the log kept, the tail printed when
// tb failed, and removal before the test binary's deadline. Call it before checking Run's
// error. Unlike backends.Start it never fails or skips tb, so a deployment that starts
// containers concurrently calls Run and Track off the test goroutine.
//
// Package backends sets it when it is initialised (it needs the container's unexported
// state, and backends imports this package, not the reverse); nothing else may.
var Track func(tb testing.TB, c testcontainers.Container)

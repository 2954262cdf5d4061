package perftest

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// captureTB records what a helper reports instead of failing the real test. Fatal and Skip
// end the helper's goroutine as they would in a real test.
type captureTB struct {
	testing.TB
	ctx      context.Context
	deadline time.Time // zero: none

	mu             sync.Mutex
	logs, errs     []string
	fatal, skipped bool
}

func (c *captureTB) Helper()                  {}
func (c *captureTB) Context() context.Context { return c.ctx }
func (c *captureTB) Logf(f string, a ...any)  { c.add(&c.logs, fmt.Sprintf(f, a...)) }
func (c *captureTB) Errorf(f string, a ...any) {
	c.add(&c.errs, fmt.Sprintf(f, a...))
}
func (c *captureTB) Fatalf(f string, a ...any) {
	c.add(&c.errs, fmt.Sprintf(f, a...))
	c.mu.Lock()
	c.fatal = true
	c.mu.Unlock()
	runtime.Goexit()
}
func (c *captureTB) Skipf(f string, a ...any) {
	c.add(&c.logs, fmt.Sprintf(f, a...))
	c.mu.Lock()
	c.skipped = true
	c.mu.Unlock()
	runtime.Goexit()
}
func (c *captureTB) Failed() bool { c.mu.Lock(); defer c.mu.Unlock(); return len(c.errs) > 0 }

func (c *captureTB) add(dst *[]string, s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	*dst = append(*dst, s)
}

func (c *captureTB) errors() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.errs, "\n")
}
func (c *captureTB) logged() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.logs, "\n")
}

// capture runs fn with a captureTB on its own goroutine and waits for it.
func capture(t *testing.T, ctx context.Context, fn func(tb testing.TB)) *captureTB {
	t.Helper()
	if ctx == nil {
		ctx = t.Context()
	}
	c := &captureTB{TB: t, ctx: ctx}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(c)
	}()
	<-done
	return c
}

// setFlag sets a flag variable for one test.
func setFlag[T any](t *testing.T, p *T, v T) {
	t.Helper()
	old := *p
	*p = v
	t.Cleanup(func() { *p = old })
}

// Deadline makes captureTB look like a *testing.T run with -timeout.
func (c *captureTB) Deadline() (time.Time, bool) { return c.deadline, !c.deadline.IsZero() }

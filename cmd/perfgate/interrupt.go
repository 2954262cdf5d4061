package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// interruptGrace is how long a command has, once SIGINT or SIGTERM arrived, to end on its
// own (writing what it measured, saying so) before perfgate ends without it, so that every
// command ends within a second of the signal: one blocked in a read no context reaches (a
// FIFO with no writer, a hung network file system) or in a computation that does not look
// at one as well.
const interruptGrace = 750 * time.Millisecond

// runInterruptible runs c beside a wait for ctx's end (main's signal.NotifyContext).
// A command that ends within interruptGrace of the signal ends as it says, with exit
// status 130 if it failed (its error says what it kept); one that does not is left
// behind: its output is cut off and perfgate ends with 130 and the signal named.
func runInterruptible(ctx context.Context, c command, args []string, stdout, stderr io.Writer) (int, error) {
	out, cutOut := guard(stdout)
	errw, cutErr := guard(stderr)
	type result struct {
		code int
		err  error
	}
	done := make(chan result, 1)
	go func() {
		code, err := c.run(ctx, args, out, errw)
		done <- result{code, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		grace := time.NewTimer(interruptGrace)
		defer grace.Stop()
		select {
		case r = <-done:
		case <-grace.C:
			cutOut()
			cutErr()
			return 130, fmt.Errorf("interrupted (%v): stopped without waiting for the work in progress", context.Cause(ctx))
		}
	}
	if ctx.Err() != nil && r.code != 0 {
		r.code = 130
		if r.err == nil {
			r.err = fmt.Errorf("interrupted (%v)", context.Cause(ctx))
		}
	}
	return r.code, r.err
}

// errCut is what a command left behind gets from its writers.
var errCut = errors.New("output cut off: perfgate was interrupted")

// guard returns w for a command, with the function that cuts it off when perfgate stops
// waiting for the command, so that nothing the command writes afterwards lands after the
// last word. A terminal or file (*os.File) is passed as it is, so that a command can still
// tell a terminal: the process ends right after the cut anyway.
func guard(w io.Writer) (io.Writer, func()) {
	if f, ok := w.(*os.File); ok {
		return f, func() {}
	}
	g := &gatedWriter{w: w}
	return g, g.cut
}

// gatedWriter is a writer (a test's buffer) that stops taking writes once cut.
type gatedWriter struct {
	mu     sync.Mutex
	w      io.Writer
	closed bool
}

func (g *gatedWriter) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return 0, errCut
	}
	return g.w.Write(p)
}

func (g *gatedWriter) cut() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}

// Package proc runs the external programs perfgate asks things of (nvidia-smi, git). Every
// run has a deadline; it ends with the program's whole process group, so a child the
// program left behind (a script's `sleep`) neither outlives it nor holds its output open;
// Wait gives up on output still held open shortly after the program ends; and only a
// bounded amount of output is read, a program that prints more being stopped. The errors
// say which of these happened ([ErrTimeout], [ErrOutputLimit]) so that a caller can say
// once what it fell back to.
package proc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// Limits bound one run of a program. The zero value is 10 seconds and 1 MiB.
type Limits struct {
	// Timeout is the longest the program may run (0: 10 seconds).
	Timeout time.Duration
	// MaxOutput is the most bytes of standard output read (0: 1 MiB); a program that
	// prints more is stopped and its run fails with ErrOutputLimit.
	MaxOutput int
}

// WaitDelay is how long Wait waits for output pipes still held open (by a child of the
// program) once the program has ended or been killed.
const WaitDelay = time.Second

// Errors a run fails with, besides the program's own exit status and exec.ErrNotFound.
var (
	ErrTimeout     = errors.New("no answer in time")
	ErrOutputLimit = errors.New("output over the limit")
)

// Command is exec.CommandContext with perfgate's guards: the program runs in a process
// group of its own that is killed when ctx ends, and Wait stops waiting for its output
// WaitDelay after it ended. Use it for programs that run as long as their caller needs
// them (a sampler); Output for one answer.
func Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.WaitDelay = WaitDelay
	ownGroup(cmd)
	return cmd
}

// Reap kills what is left of a command's process group after Wait returned: children the
// program started and did not wait for.
func Reap(cmd *exec.Cmd) { killGroup(cmd) }

// Output runs name with args within lim and returns its standard output (what was read of
// it, also on an error: some programs explain a failure there). The error names the
// program and says why: exec.ErrNotFound, ErrTimeout, ErrOutputLimit, or the exit status
// with the first line the program wrote to standard error.
func Output(ctx context.Context, lim Limits, name string, args ...string) ([]byte, error) {
	timeout := lim.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	max := lim.MaxOutput
	if max <= 0 {
		max = 1 << 20
	}
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, ErrTimeout)
	defer cancel()
	cmd := Command(ctx, name, args...)
	stdout := &capped{max: max, full: cancel}
	stderr := &capped{max: 4 << 10}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	err := cmd.Run()
	if err != nil {
		Reap(cmd) // a child may hold the output open, or outlive a killed program
	}
	out := stdout.b.Bytes()
	switch {
	case stdout.over:
		return out, fmt.Errorf("%s: %w of %d bytes", name, ErrOutputLimit, max)
	case errors.Is(context.Cause(ctx), ErrTimeout):
		return out, fmt.Errorf("%s: %w (%v)", name, ErrTimeout, timeout)
	case err != nil && ctx.Err() != nil:
		return out, fmt.Errorf("%s: %w", name, context.Cause(ctx))
	case err != nil:
		if line := firstLine(stderr.b.Bytes()); line != "" {
			return out, fmt.Errorf("%s: %w: %s", name, err, line)
		}
		return out, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}

// capped keeps up to max bytes; past them it calls full (when set) and fails the write, so
// that the copy from the program's pipe stops.
type capped struct {
	b    bytes.Buffer
	max  int
	over bool
	full func()
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.max - c.b.Len(); len(p) > room {
		c.b.Write(p[:room])
		if c.full == nil {
			return len(p), nil // keep draining: only the first max bytes matter
		}
		c.over = true
		c.full()
		return room, ErrOutputLimit
	}
	return c.b.Write(p)
}

// firstLine is the first non-empty line of b, trimmed.
func firstLine(b []byte) string {
	line, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return strings.TrimSpace(line)
}

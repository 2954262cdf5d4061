// Package progress formats the progress of long perf runs (many repetitions, sweeps,
// profiles) for a person to follow: what is done of how much, the time elapsed and an
// estimate of the time left, the live request rate and the errors so far.
//
//	PerfChat: repetition 3/10 · 41s elapsed, about 1m36s left · 1,234 requests, 2 failed · 38.5 req/s
//
// A Meter turns a run's counters into States; a Printer writes them: on a terminal one
// status line rewritten in place and one line per finished step, in a log (CI, a file)
// the finished steps only, and nothing when quiet. Under `go test`, the runner logs each
// finished step's line with t.Log, which shows with -v or when the test fails.
//
// The package reads no clock of its own: every call takes the time, so tests need none.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unicode/utf8"
)

// State is where a run stands.
type State struct {
	// What names the run and its unit of work, e.g. "PerfChat: repetition".
	What string
	// Step is the step in progress (1-based) or just finished, of Steps (0: unknown);
	// Detail says more of it ("B", "concurrency=16").
	Step, Steps int
	Detail      string
	// Finished says Step has just ended.
	Finished bool
	// Requests and Failed count the requests finished, and those that failed, since the run
	// began; StepRequests those of the current step, of an expected StepTotal (0: unknown).
	Requests, Failed        int64
	StepRequests, StepTotal int64
	Elapsed                 time.Duration
	// Rate is the request rate over the last interval, requests/s (negative: unknown).
	Rate float64
}

// Done is the share of the run done, from the finished steps and the current step's
// requests, and whether it can be told (Steps known, something finished).
func (s State) Done() (float64, bool) {
	if s.Steps <= 0 {
		return 0, false
	}
	done := float64(s.Step - 1)
	switch {
	case s.Finished:
		done = float64(s.Step)
	case s.StepTotal > 0:
		done += min(float64(s.StepRequests)/float64(s.StepTotal), 1)
	}
	if done <= 0 {
		return 0, false
	}
	return min(done/float64(s.Steps), 1), true
}

// Remaining estimates the time left, assuming the rest goes at the pace so far.
func (s State) Remaining() (time.Duration, bool) {
	f, ok := s.Done()
	if !ok || s.Elapsed <= 0 {
		return 0, false
	}
	return time.Duration(float64(s.Elapsed) * (1 - f) / f), true
}

// String is the progress line.
func (s State) String() string {
	var b strings.Builder
	b.WriteString(s.What)
	if s.Steps > 0 {
		fmt.Fprintf(&b, " %d/%d", s.Step, s.Steps)
	} else if s.Step > 0 {
		fmt.Fprintf(&b, " %d", s.Step)
	}
	if s.Detail != "" {
		fmt.Fprintf(&b, " (%s)", s.Detail)
	}
	if s.Finished {
		b.WriteString(" done")
	}
	fmt.Fprintf(&b, " · %s elapsed", short(s.Elapsed))
	if left, ok := s.Remaining(); ok {
		if s.Finished && s.Step == s.Steps {
			b.WriteString(", finished")
		} else {
			fmt.Fprintf(&b, ", about %s left", short(left))
		}
	}
	fmt.Fprintf(&b, " · %s %s", thousands(s.Requests), plural(s.Requests, "request", "requests"))
	if s.Failed > 0 {
		fmt.Fprintf(&b, ", %s failed", thousands(s.Failed))
	}
	if s.Rate >= 0 {
		fmt.Fprintf(&b, " · %.1f req/s", s.Rate)
	}
	return b.String()
}

// short rounds a duration for a person: whole seconds past ten seconds, tenths below.
func short(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return d.Round(time.Second).String()
	case d >= time.Second:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Millisecond).String()
}

func thousands(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		return "-" + s
	}
	return s
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// Meter keeps what a State needs between calls: when the run and the current step began,
// the counters then, and the counters at the last call for the live rate. It is not safe
// for concurrent use; the runner's progress goroutine owns it.
type Meter struct {
	what               string
	steps, step        int
	start, lastAt      time.Time
	lastReq, stepStart int64
	stepTotal          int64
}

// NewMeter starts measuring a run of steps steps (0: unknown) at now.
func NewMeter(what string, steps int, now time.Time) *Meter {
	return &Meter{what: what, steps: steps, start: now, lastAt: now}
}

// SetSteps changes the number of steps, for a run that grew (a sequential comparison
// that runs more repetitions while undecided).
func (m *Meter) SetSteps(steps int) { m.steps = steps }

// StartStep marks the beginning of the next step, with requests finished so far.
func (m *Meter) StartStep(requests int64) {
	m.step++
	m.stepStart = requests
}

// ExpectPerStep sets the requests a step is expected to have (the first step's count is a
// good guess for the rest), for estimates within a step.
func (m *Meter) ExpectPerStep(n int64) { m.stepTotal = n }

// State is the run's state at now, given the counters since the run began; finished says
// the current step has just ended.
func (m *Meter) State(now time.Time, requests, failed int64, finished bool) State {
	s := State{What: m.what, Step: m.step, Steps: m.steps, Finished: finished, Requests: requests, Failed: failed,
		StepRequests: requests - m.stepStart, StepTotal: m.stepTotal, Elapsed: now.Sub(m.start), Rate: -1}
	if dt := now.Sub(m.lastAt).Seconds(); dt > 0 {
		s.Rate = float64(requests-m.lastReq) / dt
	}
	m.lastAt, m.lastReq = now, requests
	return s
}

// Printer writes progress for a person. On a terminal, Update rewrites one status line in
// place; everywhere, Finish prints the line of a finished step and Note prints a line of
// its own; quiet prints nothing but notes. It is not safe for concurrent use.
type Printer struct {
	w     io.Writer
	tty   bool
	quiet bool
	shown int // width of the status line on screen, in characters
}

// NewPrinter writes to w; tty says w is a terminal (see IsTerminal).
func NewPrinter(w io.Writer, tty, quiet bool) *Printer {
	return &Printer{w: w, tty: tty, quiet: quiet}
}

// IsTerminal reports whether w is a terminal (a character device), where a status line
// can be rewritten in place.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// Update shows s as the status line, on a terminal only: a log gets the finished steps.
func (p *Printer) Update(s State) {
	if p.quiet || !p.tty {
		return
	}
	line := s.String()
	width := utf8.RuneCountInString(line)
	fmt.Fprintf(p.w, "\r%s%s", line, strings.Repeat(" ", max(0, p.shown-width)))
	p.shown = width
}

// Finish prints the line of a finished step on a line of its own.
func (p *Printer) Finish(s State) {
	if p.quiet {
		return
	}
	p.Note(s.String())
}

// Note prints a line of its own, above the status line on a terminal.
func (p *Printer) Note(line string) {
	p.clear()
	fmt.Fprintln(p.w, line)
}

// Done ends the status line.
func (p *Printer) Done() { p.clear() }

func (p *Printer) clear() {
	if p.tty && p.shown > 0 {
		fmt.Fprintf(p.w, "\r%s\r", strings.Repeat(" ", p.shown))
		p.shown = 0
	}
}

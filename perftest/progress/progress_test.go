package progress

import (
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func Example() {
	m := NewMeter("PerfChat: repetition", 10, t0)
	m.StartStep(0)
	m.ExpectPerStep(480)
	fmt.Println(m.State(t0.Add(5*time.Second), 240, 1, false))
	fmt.Println(m.State(t0.Add(10*time.Second), 480, 2, true))
	m.StartStep(480)
	fmt.Println(m.State(t0.Add(15*time.Second), 720, 2, false))
	// Output:
	// PerfChat: repetition 1/10 · 5s elapsed, about 1m35s left · 240 requests, 1 failed · 48.0 req/s
	// PerfChat: repetition 1/10 done · 10s elapsed, about 1m30s left · 480 requests, 2 failed · 48.0 req/s
	// PerfChat: repetition 2/10 · 15s elapsed, about 1m25s left · 720 requests, 2 failed · 48.0 req/s
}

func TestRemaining(t *testing.T) {
	for _, tc := range []struct {
		s    State
		left time.Duration
		ok   bool
	}{
		{State{Step: 1, Steps: 4, Elapsed: time.Minute}, 0, false},                              // nothing done yet, no estimate
		{State{Step: 1, Steps: 4, Finished: true, Elapsed: time.Minute}, 3 * time.Minute, true}, // one of four done
		{State{Step: 2, Steps: 4, StepRequests: 50, StepTotal: 100, Elapsed: 3 * time.Minute}, 5 * time.Minute, true},
		{State{Step: 2, Steps: 4, StepRequests: 500, StepTotal: 100, Elapsed: 4 * time.Minute}, 4 * time.Minute, true}, // a step counts at most once
		{State{Step: 4, Steps: 4, Finished: true, Elapsed: time.Minute}, 0, true},
		{State{Step: 3, Steps: 0, Elapsed: time.Minute}, 0, false}, // total unknown
	} {
		left, ok := tc.s.Remaining()
		assert.Equal(t, tc.ok, ok, "%+v", tc.s)
		assert.InDelta(t, tc.left.Seconds(), left.Seconds(), 1e-6, "%+v", tc.s)
	}
}

func TestString(t *testing.T) {
	s := State{What: "sweep point", Step: 7, Detail: "rate=20", Requests: 1234567, Rate: -1, Elapsed: 90 * time.Minute}
	assert.Equal(t, "sweep point 7 (rate=20) · 1h30m0s elapsed · 1,234,567 requests", s.String())
	s = State{What: "PerfX: repetition", Step: 3, Steps: 3, Finished: true, Requests: 1, Elapsed: 1500 * time.Millisecond, Rate: 0.5}
	assert.Equal(t, "PerfX: repetition 3/3 done · 1.5s elapsed, finished · 1 request · 0.5 req/s", s.String())
}

func TestPrinter(t *testing.T) {
	s := func(step int, finished bool) State {
		return State{What: "P: repetition", Step: step, Steps: 2, Finished: finished, Requests: int64(10 * step), Elapsed: time.Duration(step) * time.Second, Rate: 10}
	}
	var term strings.Builder
	p := NewPrinter(&term, true, false)
	p.Update(s(1, false))
	p.Note("perftest: a note")
	p.Update(s(1, false))
	p.Finish(s(1, true))
	p.Update(s(2, false))
	p.Done()
	line1, line2 := s(1, false).String(), s(2, false).String()
	blank := func(l string) string { return strings.Repeat(" ", utf8.RuneCountInString(l)) } // "·" is one column
	assert.Equal(t, "\r"+line1+"\r"+blank(line1)+"\rperftest: a note\n"+
		"\r"+line1+"\r"+blank(line1)+"\r"+s(1, true).String()+"\n"+
		"\r"+line2+"\r"+blank(line2)+"\r", term.String())

	var log strings.Builder
	p = NewPrinter(&log, false, false)
	p.Update(s(1, false))
	p.Note("perftest: a note")
	p.Finish(s(1, true))
	p.Update(s(2, false))
	p.Finish(s(2, true))
	p.Done()
	assert.Equal(t, "perftest: a note\n"+s(1, true).String()+"\n"+s(2, true).String()+"\n", log.String(), "a log gets notes and finished steps")

	var quiet strings.Builder
	p = NewPrinter(&quiet, true, true)
	p.Update(s(1, false))
	p.Finish(s(1, true))
	p.Note("perftest: a note")
	p.Done()
	assert.Equal(t, "perftest: a note\n", quiet.String(), "quiet keeps notes only")
	assert.False(t, IsTerminal(&quiet))
}

func TestMeterRate(t *testing.T) {
	m := NewMeter("x", 0, t0)
	m.StartStep(0)
	assert.InDelta(t, 10, m.State(t0.Add(time.Second), 10, 0, false).Rate, 1e-9)
	assert.InDelta(t, 40, m.State(t0.Add(1500*time.Millisecond), 30, 0, false).Rate, 1e-9, "rate over the last interval")
	assert.Negative(t, m.State(t0.Add(1500*time.Millisecond), 30, 0, false).Rate, "no time passed: unknown")
}

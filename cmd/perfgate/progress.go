package main

import (
	"flag"
	"fmt"
	"io"
	"sync"

	"github.com/perfgate/perfgate/perftest"
	"github.com/perfgate/perfgate/perftest/progress"
)

// quietFlag defines -q and --quiet: no progress lines, notes only.
func quietFlag(fs *flag.FlagSet) *bool {
	q := fs.Bool("quiet", false, "no progress lines on stderr (notes still show)")
	fs.BoolVar(q, "q", false, "short for --quiet")
	return q
}

// cmdProgress shows a run's progress on stderr: on a terminal a status line rewritten in
// place and a line per finished repetition, in a log the finished repetitions only, with
// --quiet nothing but the runner's notes.
type cmdProgress struct {
	mu sync.Mutex // the runner's notes and its progress come from different goroutines
	*progress.Printer
}

func newProgress(w io.Writer, quiet bool) *cmdProgress {
	return &cmdProgress{Printer: progress.NewPrinter(w, progress.IsTerminal(w), quiet)}
}

// wire sends the runner's notes and progress to the printer.
func (p *cmdProgress) wire(opt *perftest.ExecOptions) {
	opt.Logf = func(format string, args ...any) {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.Note(fmt.Sprintf(format, args...))
	}
	opt.Progress = func(s progress.State) {
		p.mu.Lock()
		defer p.mu.Unlock()
		if s.Finished {
			p.Finish(s)
		} else {
			p.Update(s)
		}
	}
}

func (p *cmdProgress) Done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.Printer.Done()
}

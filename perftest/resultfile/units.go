package resultfile

import (
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/perfgate/perfgate/perftest/metric"
)

// Options say how Read and Parse check a file. The zero value checks it against perfgate's
// vocabulary.
type Options struct {
	// Metrics is the vocabulary of units a file may carry without a `Unit ... better=`
	// line, whose directions such a line cannot reverse and whose ranges values must lie
	// in (nil: metric.Default()).
	Metrics *metric.Set
}

// Read reads the result file at path, checking it as the package documentation says.
func (o Options) Read(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read results: %w", err)
	}
	defer f.Close()
	return o.Parse(f, path)
}

// Read reads the result file at path with the zero Options.
func Read(path string) (*File, error) { return Options{}.Read(path) }

// Parse parses results with the zero Options (see Options.Parse).
func Parse(r io.Reader, fileName string) (*File, error) { return Options{}.Parse(r, fileName) }

// Append adds reps as the file's last result lines, listing the units they bring in Units
// with each one's direction from set (nil: metric.Default(); lower for a unit set does not
// know), which WriteTo writes as `Unit ... better=` lines.
func (f *File) Append(set *metric.Set, reps ...Rep) {
	if f.LowerBetter == nil {
		f.LowerBetter = map[string]bool{}
	}
	for _, rep := range reps {
		for _, m := range rep.Metrics {
			if !slices.Contains(f.Units, m.Unit) {
				f.Units = append(f.Units, m.Unit)
				f.LowerBetter[m.Unit] = set.LowerBetter(m.Unit)
			}
		}
		f.Reps = append(f.Reps, rep)
	}
}

func direction(lower bool) string {
	if lower {
		return "lower"
	}
	return "higher"
}

package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
)

// newFlagSet is a command's flag set: usage text, then the flags' defaults; errors go to
// stderr.
func newFlagSet(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(fs.Output(), usage); fs.PrintDefaults() }
	return fs
}

// finiteFloats refuses a number flag set to NaN or an infinity (which strconv.ParseFloat
// accepts): no flag means either, and a NaN compares false with every bound, so that a
// check such as "alpha in (0, 1)" would let it through to a default or a wrong answer.
func finiteFloats(fs *flag.FlagSet) error {
	var err error
	fs.Visit(func(f *flag.Flag) {
		g, ok := f.Value.(flag.Getter)
		if !ok || err != nil {
			return
		}
		if v, ok := g.Get().(float64); ok && (math.IsNaN(v) || math.IsInf(v, 0)) {
			err = fmt.Errorf("invalid value %q for flag -%s: want a finite number", f.Value.String(), f.Name)
		}
	})
	return err
}

// parseArgs parses flags that may come before, between or after positional arguments and
// returns the positional ones. When done, the command ends with code: 0 after -h (the usage
// went to stdout), 2 after a bad flag (named on stderr, the usage following), a NaN or
// infinite number among them.
func parseArgs(fs *flag.FlagSet, args []string, stdout io.Writer) (pos []string, code int, done bool) {
	usage := fs.Usage
	fs.Usage = func() {} // printed below, where it belongs
	defer func() { fs.Usage = usage }()
	for {
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			out := fs.Output()
			fs.SetOutput(stdout)
			usage()
			fs.SetOutput(out)
			return nil, 0, true
		}
		if err != nil {
			usage()
			return nil, 2, true
		}
		args = fs.Args()
		if len(args) == 0 {
			if err := finiteFloats(fs); err != nil {
				fmt.Fprintln(fs.Output(), err)
				usage()
				return nil, 2, true
			}
			return pos, 0, false
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

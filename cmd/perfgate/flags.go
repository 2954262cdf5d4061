package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// newFlagSet is a command's flag set: usage text, then the flags' defaults; errors go to
// stderr.
func newFlagSet(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(fs.Output(), usage); fs.PrintDefaults() }
	return fs
}

// parseArgs parses flags that may come before, between or after positional arguments and
// returns the positional ones. When done, the command ends with code: 0 after -h (the usage
// went to stdout), 2 after a bad flag (the flag package named it on stderr, and the usage
// followed).
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
			return pos, 0, false
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

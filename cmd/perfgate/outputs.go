package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/perfgate/perfgate/internal/termtext"
)

// serverError is an error that quotes a server (its HTTP error body, an in-stream error,
// a model id), printed as one escaped line: nothing the server said can move the cursor,
// start a line of its own or open a CI workflow command. errors.Is and As see the error.
type serverError struct{ err error }

func (e serverError) Error() string { return termtext.Line(e.err.Error()) }

func (e serverError) Unwrap() error { return e.err }

// fromServer marks err (nil: none) as quoting a server.
func fromServer(err error) error {
	if err == nil {
		return nil
	}
	return serverError{err}
}

// fromServers joins errs, each quoting a server, one escaped line each.
func fromServers(errs []error) error {
	out := make([]error, 0, len(errs))
	for _, e := range errs {
		out = append(out, fromServer(e))
	}
	return errors.Join(out...)
}

// checkOutDir says, before a run, whether its output folder (flag names it in the message)
// can take files: dir if it exists, else the nearest folder above it that does, where the
// files' folders would be made. It leaves nothing behind.
func checkOutDir(flag, dir string) error {
	at := dir
	for {
		fi, err := os.Stat(at)
		if err == nil {
			if !fi.IsDir() {
				return fmt.Errorf("%s %s: %s is not a folder", flag, dir, at)
			}
			break
		}
		if !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s %s: %w", flag, dir, err)
		}
		up := filepath.Dir(at)
		if up == at {
			return fmt.Errorf("%s %s: %w", flag, dir, err)
		}
		at = up
	}
	f, err := os.CreateTemp(at, ".perfgate-check-*")
	if err != nil {
		return fmt.Errorf("%s %s: cannot write the results there: %w", flag, dir, err)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

// Package readfile reads the files perfgate takes whole (a model's config.json, a simulator
// profile) up to a size limit, so that a wrong path (/dev/zero, a log, a disk image) fails
// with an error naming the limit instead of filling memory.
package readfile

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// ErrTooLarge is the error of a file over the limit.
var ErrTooLarge = errors.New("over the size limit")

// Read returns the contents of path, or an error wrapping ErrTooLarge, naming the file and
// the limit, once it holds more than limit bytes (it reads at most limit+1).
func Read(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: %w of %s", path, ErrTooLarge, size(limit))
	}
	return data, nil
}

// size says a limit in the largest binary unit that divides it.
func size(n int64) string {
	for _, u := range []struct {
		shift int
		name  string
	}{{30, "GiB"}, {20, "MiB"}, {10, "KiB"}} {
		if n >= 1<<u.shift && n%(1<<u.shift) == 0 {
			return fmt.Sprintf("%d %s", n>>u.shift, u.name)
		}
	}
	return fmt.Sprintf("%d bytes", n)
}

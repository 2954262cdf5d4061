// Package atomicfile writes files so that a reader never sees half of one and a crash never
// leaves one, and takes the file locks that let several processes update the same file in
// turn. Every file perfgate writes (results, baselines, records, history, traces, reports,
// plots) goes through it.
package atomicfile

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/gofrs/flock"
)

// Write writes path through a temporary file in the same folder, which it syncs and renames
// over path only when write returned nil: on any error path is left as it was. The folder is
// created if needed. The file gets mode 0644. When path is a symbolic link, the file it
// points to is replaced and the link stays a link (a baseline linked to a shared one updates
// the shared file).
func Write(path string, write func(io.Writer) error) error {
	return WriteAll(File{Path: path, Write: write})
}

// File is one file of a set WriteAll writes.
type File struct {
	Path  string
	Write func(io.Writer) error
}

// WriteAll writes a set of files that belong together (a result and its records) as Write
// writes one: each through a temporary file, and none of them replaced unless every one was
// written and synced. Only then are they renamed over their paths, in order: list last the
// file readers look for, so that whoever finds it finds its companions of the same run. A
// rename does not need space on the disk, so a full disk leaves every file as it was.
func WriteAll(files ...File) error {
	temps := make([]string, 0, len(files))
	defer func() {
		for _, t := range temps {
			_ = os.Remove(t) // fails harmlessly after the rename
		}
	}()
	targets := make([]string, len(files))
	for i, f := range files {
		target, tmp, err := writeTemp(f)
		if tmp != "" {
			temps = append(temps, tmp)
		}
		if err != nil {
			return fmt.Errorf("write %s: %w", f.Path, err)
		}
		targets[i] = target
	}
	for i, f := range files {
		if err := os.Rename(temps[i], targets[i]); err != nil {
			if i > 0 {
				return fmt.Errorf("write %s: %w (%s already replaced)", f.Path, err, files[i-1].Path)
			}
			return fmt.Errorf("write %s: %w", f.Path, err)
		}
	}
	return nil
}

// writeTemp writes f to a temporary file beside the file f.Path stands for (its link's
// target, when it is a symbolic link), and returns that file's path and the temporary one.
func writeTemp(f File) (target, tmp string, err error) {
	target, err = resolve(f.Path)
	if err != nil {
		return "", "", err
	}
	dir := filepath.Dir(target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", err
	}
	t, err := os.CreateTemp(dir, "."+filepath.Base(target)+".tmp*")
	if err != nil {
		return "", "", err
	}
	return target, t.Name(), finish(t, f.Write)
}

// resolve follows path's symbolic links to the file they name (which need not exist).
func resolve(path string) (string, error) {
	for range 40 {
		fi, err := os.Lstat(path)
		if err != nil || fi.Mode()&os.ModeSymlink == 0 {
			return path, nil
		}
		dest, err := os.Readlink(path)
		if err != nil {
			return "", err
		}
		if !filepath.IsAbs(dest) {
			dest = filepath.Join(filepath.Dir(path), dest)
		}
		path = dest
	}
	return "", fmt.Errorf("%s: too many levels of symbolic links", path)
}

// finish writes, flushes, syncs and closes f.
func finish(f *os.File, write func(io.Writer) error) error {
	bw := bufio.NewWriterSize(f, 64<<10)
	err := write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	return err
}

// WriteFile is Write for bytes already in memory.
func WriteFile(path string, data []byte) error {
	return Write(path, func(w io.Writer) error { _, err := w.Write(data); return err })
}

// Append appends data to path in one write (creating it if needed), so that lines appended
// by concurrent writers never interleave; callers that need more than that hold a Lock.
// The append completes or leaves the file as it was: a write cut short (a full disk) or a
// failed sync is cut back off, so that a history never ends inside a line that the next
// append would run on from.
func Append(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("append to %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("append to %s: %w", path, err)
	}
	err = appendTo(f, data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("append to %s: %w", path, err)
	}
	return nil
}

// appendFile is what appendTo needs of an *os.File opened for appending.
type appendFile interface {
	io.Writer
	Stat() (os.FileInfo, error)
	Sync() error
	Truncate(size int64) error
}

// appendTo writes data at the end of f and syncs it; when either fails, it truncates f back
// to its size before the write. A file that is not a regular one (a pipe, a terminal) is
// only written.
func appendTo(f appendFile, data []byte) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		_, err := f.Write(data)
		return err
	}
	size := fi.Size()
	n, err := f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		return nil
	}
	// Undo exactly our bytes: with O_APPEND they went to the end, and only a writer that
	// holds no Lock can have appended since.
	if now, serr := f.Stat(); serr != nil || now.Size() != size+int64(n) {
		return fmt.Errorf("%w; the %d bytes written could not be cut back off: another writer appended meanwhile (hold a Lock)", err, n)
	}
	if terr := f.Truncate(size); terr != nil {
		return fmt.Errorf("%w; cutting the %d bytes written back off failed: %v", err, n, terr)
	}
	_ = f.Sync()
	return err
}

// ErrLockTimeout is wrapped by Lock's error when another holder kept the lock for the whole
// wait.
var ErrLockTimeout = errors.New("lock held by another process")

// Lock takes an exclusive lock on path (a lock file beside what it protects, such as
// "baseline.txt.lock"), waiting up to wait for another holder, and returns the function that
// releases it. The lock is the operating system's (flock, LockFileEx), so a holder that dies,
// even by kill -9, releases it at once: a lock file left on disk never blocks anyone.
// Release removes the lock file while still holding it, and a waiter that then gets a lock
// on the removed file notices and starts again, so the file does not pile up beside what it
// protects.
func Lock(path string, wait time.Duration) (release func(), err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	for {
		fl := flock.New(path, flock.SetPermissions(0o644))
		ok, err := fl.TryLockContext(ctx, 20*time.Millisecond)
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			fl.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if !ok {
			fl.Close()
			return nil, fmt.Errorf("lock %s: %w for over %v (is another perfgate update running?)", path, ErrLockTimeout, wait)
		}
		if sameFile(fl, path) {
			return func() {
				_ = os.Remove(path) // under the lock: see the doc comment
				_ = fl.Unlock()
				_ = fl.Close()
			}, nil
		}
		// The previous holder removed the file we locked: lock the one at path now.
		_ = fl.Unlock()
		_ = fl.Close()
	}
}

// sameFile reports whether the locked file is still the one at path.
func sameFile(fl *flock.Flock, path string) bool {
	held, err := fl.Stat()
	if err != nil {
		return false
	}
	now, err := os.Stat(path)
	return err == nil && os.SameFile(held, now)
}

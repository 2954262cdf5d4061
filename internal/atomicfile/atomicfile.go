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
// created if needed. The file gets mode 0644.
func Write(path string, write func(io.Writer) error) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(f.Name()) // fails harmlessly after the rename
	if err := finish(f, write); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
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
func Append(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("append to %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("append to %s: %w", path, err)
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("append to %s: %w", path, err)
	}
	return nil
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

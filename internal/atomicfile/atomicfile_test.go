package atomicfile

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWriteReplacesOnlyOnSuccess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "f.txt")
	require.NoError(t, WriteFile(path, []byte("good\n")))
	err := Write(path, func(w io.Writer) error {
		_, _ = io.WriteString(w, "half")
		return errors.New("disk on fire")
	})
	require.ErrorContains(t, err, "disk on fire")
	require.ErrorContains(t, err, path)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "good\n", string(b), "a failed write leaves the old file")
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".*tmp*"))
	assert.Empty(t, left, "no temporary file left behind")
}

func TestAppend(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.jsonl")
	require.NoError(t, Append(path, []byte("1\n")))
	require.NoError(t, Append(path, []byte("2\n")))
	b, _ := os.ReadFile(path)
	assert.Equal(t, "1\n2\n", string(b))
}

func TestLockIsExclusive(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.lock")
	var (
		mu      sync.Mutex
		holders int
		most    int
		wg      sync.WaitGroup
	)
	for range 8 {
		wg.Go(func() {
			for range 20 {
				release, err := Lock(path, time.Minute)
				if !assert.NoError(t, err) {
					return
				}
				mu.Lock()
				holders++
				most = max(most, holders)
				mu.Unlock()
				time.Sleep(100 * time.Microsecond)
				mu.Lock()
				holders--
				mu.Unlock()
				release()
			}
		})
	}
	wg.Wait()
	assert.Equal(t, 1, most, "never two holders at once")
	_, err := os.Stat(path)
	assert.True(t, os.IsNotExist(err), "the last release removes the lock file")
}

func TestLockTimesOut(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.lock")
	release, err := Lock(path, time.Second)
	require.NoError(t, err)
	defer release()
	_, err = Lock(path, 50*time.Millisecond)
	assert.ErrorIs(t, err, ErrLockTimeout)
	assert.ErrorContains(t, err, path)
}

// TestLockOfKilledHolder takes the lock in a child process, kills it with SIGKILL while it
// holds the lock, and takes the lock at once: the operating system released it, although
// the lock file is still on disk.
func TestLockOfKilledHolder(t *testing.T) {
	if path := os.Getenv("ATOMICFILE_HOLD"); path != "" {
		if _, err := Lock(path, time.Second); err != nil {
			os.Exit(3)
		}
		os.Stdout.WriteString("held\n")
		time.Sleep(time.Hour)
	}
	path := filepath.Join(t.TempDir(), "baseline.txt.lock")
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockOfKilledHolder$")
	cmd.Env = append(os.Environ(), "ATOMICFILE_HOLD="+path)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	buf := make([]byte, 5)
	_, err = io.ReadFull(out, buf)
	require.NoError(t, err, "child did not take the lock")
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
	_, err = os.Stat(path)
	require.NoError(t, err, "kill -9 leaves the lock file behind")
	release, err := Lock(path, 30*time.Second)
	require.NoError(t, err)
	release()
}

// shortWriter is an appended file whose write stops after limit bytes with ENOSPC, as a
// full disk does.
type shortWriter struct {
	*os.File
	limit int
}

func (s shortWriter) Write(p []byte) (int, error) {
	if len(p) <= s.limit {
		return s.File.Write(p)
	}
	n, _ := s.File.Write(p[:s.limit])
	return n, syscall.ENOSPC
}

func TestAppendCutShortLeavesTheFileAsItWas(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.jsonl")
	require.NoError(t, Append(path, []byte("{\"n\":1}\n")))
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	err = appendTo(shortWriter{f, 5}, []byte("{\"n\":2}\n"))
	require.NoError(t, f.Close())
	require.ErrorIs(t, err, syscall.ENOSPC)
	b, _ := os.ReadFile(path)
	assert.Equal(t, "{\"n\":1}\n", string(b), "the half-written line is cut back off")
	require.NoError(t, Append(path, []byte("{\"n\":3}\n")))
	b, _ = os.ReadFile(path)
	assert.Equal(t, "{\"n\":1}\n{\"n\":3}\n", string(b), "the next append starts a line of its own")
}

func TestWriteAllReplacesNoneUnlessAll(t *testing.T) {
	dir := t.TempDir()
	txt, recs := filepath.Join(dir, "r.txt"), filepath.Join(dir, "r.records.jsonl")
	require.NoError(t, WriteAll(File{recs, text("old records\n")}, File{txt, text("old result\n")}))
	err := WriteAll(File{recs, func(w io.Writer) error {
		_, _ = io.WriteString(w, "new rec")
		return syscall.ENOSPC
	}}, File{txt, text("new result\n")})
	require.ErrorIs(t, err, syscall.ENOSPC)
	assert.ErrorContains(t, err, recs)
	for path, want := range map[string]string{txt: "old result\n", recs: "old records\n"} {
		b, _ := os.ReadFile(path)
		assert.Equal(t, want, string(b), "%s: neither file is replaced", path)
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".*tmp*"))
	assert.Empty(t, left, "no temporary file left behind")
}

func TestWriteKeepsASymlink(t *testing.T) {
	dir := t.TempDir()
	shared := filepath.Join(dir, "shared", "chat.txt")
	require.NoError(t, WriteFile(shared, []byte("v1\n")))
	link := filepath.Join(dir, "baselines", "h100", "chat.txt")
	require.NoError(t, os.MkdirAll(filepath.Dir(link), 0o755))
	require.NoError(t, os.Symlink("../../shared/chat.txt", link))
	require.NoError(t, WriteFile(link, []byte("v2\n")))
	fi, err := os.Lstat(link)
	require.NoError(t, err)
	assert.NotZero(t, fi.Mode()&os.ModeSymlink, "the link is still a link")
	b, _ := os.ReadFile(shared)
	assert.Equal(t, "v2\n", string(b), "the file it points to was replaced")
	// A dangling link gets the file it names.
	dangling := filepath.Join(dir, "d.txt")
	require.NoError(t, os.Symlink("shared/new.txt", dangling))
	require.NoError(t, WriteFile(dangling, []byte("v3\n")))
	b, _ = os.ReadFile(filepath.Join(dir, "shared", "new.txt"))
	assert.Equal(t, "v3\n", string(b))
	left, _ := filepath.Glob(filepath.Join(dir, "*", ".*tmp*"))
	assert.Empty(t, left)
}

func text(s string) func(io.Writer) error {
	return func(w io.Writer) error { _, err := io.WriteString(w, s); return err }
}

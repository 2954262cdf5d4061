package atomicfile

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/internal/fullfs"
)

func TestAppendOnAFullDisk(t *testing.T) {
	fullfs.Run(t, 64<<10, func(t *testing.T, dir string) {
		path := filepath.Join(dir, "h.jsonl")
		require.NoError(t, Append(path, []byte("first\n")))
		filler := fullfs.Fill(t, dir, 8<<10)
		line := bytes.Repeat([]byte("x"), 20<<10)
		line[len(line)-1] = '\n'
		err := Append(path, line)
		require.Error(t, err, "the disk is full")
		assert.ErrorContains(t, err, path)
		b, _ := os.ReadFile(path)
		assert.Equal(t, "first\n", clip(b), "the file is as it was")
		require.NoError(t, os.Remove(filler))
		require.NoError(t, Append(path, []byte("second\n")))
		b, _ = os.ReadFile(path)
		assert.Equal(t, "first\nsecond\n", clip(b))
	})
}

// clip is b as a string, cut to its first 40 bytes when longer, so that a failure does not
// print a filled disk.
func clip(b []byte) string {
	if len(b) <= 40 {
		return string(b)
	}
	return fmt.Sprintf("%s...(%d bytes)", b[:40], len(b))
}

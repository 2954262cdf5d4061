package readfile

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRead(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f.json")
	require.NoError(t, os.WriteFile(p, []byte("0123456789"), 0o644))
	b, err := Read(p, 10)
	require.NoError(t, err)
	assert.Equal(t, "0123456789", string(b))

	_, err = Read(p, 9)
	require.ErrorIs(t, err, ErrTooLarge)
	assert.EqualError(t, err, p+": over the size limit of 9 bytes")

	_, err = Read(filepath.Join(t.TempDir(), "missing"), 10)
	assert.ErrorIs(t, err, os.ErrNotExist)

	if _, err := os.Stat("/dev/zero"); err == nil {
		_, err := Read("/dev/zero", 4<<20)
		assert.EqualError(t, err, "/dev/zero: over the size limit of 4 MiB")
	}
}

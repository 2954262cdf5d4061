package profile

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/backends/mock"
)

func TestPlot(t *testing.T) {
	res, err := Run(t.Context(), Simulated(mock.Config{NumGPUBlocks: 2048}), Options{ISLs: []int{256, 1024, 4096}, DecodeISLs: []int{512, 1024}})
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "profile.png")
	require.NoError(t, Plot(path, res))
	png, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Greater(t, len(png), 10000)
	assert.Error(t, Plot(path, &Result{}))
}

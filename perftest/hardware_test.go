package perftest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHardwareClassFromNvidiaSMI(t *testing.T) {
	for in, want := range map[string]string{
		"NVIDIA H100 80GB HBM3\nNVIDIA H100 80GB HBM3\n": "nvidia-h100-80gb-hbm3",
		"NVIDIA A100-SXM4-40GB\n":                        "nvidia-a100-sxm4-40gb",
		"Tesla T4\nNVIDIA L4\n":                          "nvidia-l4+tesla-t4",
		"  \n":                                           "",
		"../../etc NVIDIA\n":                             "etc-nvidia",
	} {
		assert.Equal(t, want, hardwareFromNvidiaSMI(in), "%q", in)
	}
}

func TestBaselinePath(t *testing.T) {
	setFlag(t, flagHardware, "NVIDIA H200")
	assert.Equal(t, "nvidia-h200", HardwareClass())
	assert.Equal(t, filepath.Join("baselines", "nvidia-h200", "PerfChat_prefix.txt"), BaselinePath("baselines", "PerfChat/prefix"))
	setFlag(t, flagHardware, "")
	assert.NotEmpty(t, HardwareClass(), "detected: a GPU model or cpu")
	t.Logf("this machine's hardware class: %s", HardwareClass())
}

func TestWithHardware(t *testing.T) {
	setFlag(t, flagHardware, "cpu")
	got := withHardware([]KV{{"goos", "linux"}, {"goarch", "amd64"}, {"backend", "mock"}})
	assert.Equal(t, []KV{{"goos", "linux"}, {"goarch", "amd64"}, {"hardware", "cpu"}, {"backend", "mock"}}, got)
	assert.Equal(t, got, withHardware(got), "recorded once")
}

func TestGateRefusesOtherHardware(t *testing.T) {
	setFlag(t, flagHardware, "cpu")
	path := writeBaseline(t, synthResult(1, 10, nil))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Contains(t, string(b), "\nhardware: cpu\n", "the baseline records its hardware class")
	require.NoError(t, os.WriteFile(path, []byte(strings.Replace(string(b), "hardware: cpu", "hardware: nvidia-h100-80gb-hbm3", 1)), 0o644))
	c := capture(t, nil, func(tb testing.TB) { synthResult(2, 10, nil).Gate(tb, path) })
	assert.True(t, c.fatal)
	msg := c.errors()
	assert.Contains(t, msg, `recorded on hardware class "nvidia-h100-80gb-hbm3", this run is on "cpu"`)
	assert.Regexp(t, `(?m)^[^"]*-[^"]*"hardware":[^"]*"nvidia-h100-80gb-hbm3"`, msg)
	assert.Contains(t, msg, "perftest.BaselinePath")
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Contains(t, string(after), "nvidia-h100", "a refused baseline is left as it was")
}

func TestGateAcceptsBaselineWithoutHardware(t *testing.T) {
	// Baselines recorded before perfgate stored the hardware class still gate.
	setFlag(t, flagHardware, "cpu")
	path := writeBaseline(t, synthResult(1, 10, nil))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, []byte(strings.Replace(string(b), "hardware: cpu\n", "", 1)), 0o644))
	c := capture(t, nil, func(tb testing.TB) { synthResult(2, 10, nil).Gate(tb, path) })
	assert.False(t, c.fatal, c.errors())
	assert.Empty(t, c.errors())
}

package machine

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/internal/proc"
)

func TestClassFromNvidiaSMI(t *testing.T) {
	for in, want := range map[string]string{
		"NVIDIA H100 80GB HBM3\nNVIDIA H100 80GB HBM3\n": "nvidia-h100-80gb-hbm3",
		"NVIDIA A100-SXM4-40GB\n":                        "nvidia-a100-sxm4-40gb",
		"Tesla T4\nNVIDIA L4\n":                          "nvidia-l4+tesla-t4",
		"  \n":                                           "",
		"../../etc NVIDIA\n":                             "etc-nvidia",
	} {
		assert.Equal(t, want, classFromNvidiaSMI(in), "%q", in)
	}
}

func TestHardwareClass(t *testing.T) {
	c := HardwareClass()
	assert.NotEmpty(t, c, "detected: a GPU model or cpu")
	assert.Equal(t, c, NormalizeClass(c))
	t.Logf("this machine's hardware class: %s", c)
}

// fakeBin writes an executable shell script named nvidia-smi into a temporary folder.
func fakeBin(t *testing.T, body string) string {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("the stand-in nvidia-smi is a shell script")
	}
	p := filepath.Join(t.TempDir(), "nvidia-smi")
	require.NoError(t, os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755))
	return p
}

// detect runs detectHardware, failing the test instead of hanging it (the bound is not a
// timing assertion: issue 23 saw this call never return).
func detect(t *testing.T, bin string, lim proc.Limits) (string, error) {
	t.Helper()
	type res struct {
		class string
		err   error
	}
	done := make(chan res, 1)
	go func() {
		c, err := detectHardware(t.Context(), bin, lim)
		done <- res{c, err}
	}()
	select {
	case r := <-done:
		return r.class, r.err
	case <-time.After(time.Minute):
		t.Fatal("the hardware lookup still runs after a minute")
		return "", nil
	}
}

// Issue 23: an nvidia-smi that is a script sleeping for an hour (its child holding the
// output open) hung perfgate run for good; one that never exits fell back to cpu silently.
func TestHardwareNvidiaSMINeverAnswers(t *testing.T) {
	class, err := detect(t, fakeBin(t, "sleep 3600 &\nwait\n"), proc.Limits{Timeout: 200 * time.Millisecond, MaxOutput: 64 << 10})
	assert.Equal(t, "cpu", class)
	var he *HardwareError
	require.ErrorAs(t, err, &he)
	assert.Equal(t, "timeout", he.Reason)
	assert.ErrorIs(t, err, proc.ErrTimeout)
	assert.Contains(t, err.Error(), "nvidia-smi: no answer in time (200ms)")
}

// Issue 23: `yes` as nvidia-smi grew perfgate to 2.1 GB before it fell back to cpu,
// silently.
func TestHardwareNvidiaSMIEndlessOutput(t *testing.T) {
	class, err := detect(t, fakeBin(t, "exec yes 'NVIDIA H100 80GB HBM3'\n"), hardwareLimits)
	assert.Equal(t, "cpu", class)
	var he *HardwareError
	require.ErrorAs(t, err, &he)
	assert.Equal(t, "output-over-limit", he.Reason)
	assert.Contains(t, err.Error(), "output over the limit of 65536 bytes")
}

func TestHardwareNvidiaSMIAnswers(t *testing.T) {
	class, err := detect(t, fakeBin(t, "echo 'NVIDIA H100 80GB HBM3'\necho 'NVIDIA H100 80GB HBM3'\n"), hardwareLimits)
	require.NoError(t, err)
	assert.Equal(t, "nvidia-h100-80gb-hbm3", class)

	class, err = detect(t, filepath.Join(t.TempDir(), "no-such-nvidia-smi"), hardwareLimits)
	assert.Equal(t, "cpu", class)
	var he *HardwareError
	require.ErrorAs(t, err, &he, "a path that is not there is a failure; only a name not on PATH is no GPU")

	class, err = detect(t, "perfgate-no-such-nvidia-smi", hardwareLimits)
	assert.Equal(t, "cpu", class)
	assert.NoError(t, err, "no nvidia-smi on PATH: a machine without a GPU, nothing to say")
}

func TestHardwareNvidiaSMIFails(t *testing.T) {
	class, err := detect(t, fakeBin(t, "echo 'NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver.'\nexit 9\n"), hardwareLimits)
	assert.Equal(t, "cpu", class)
	var he *HardwareError
	require.ErrorAs(t, err, &he)
	assert.Equal(t, "failed", he.Reason)
	assert.Contains(t, err.Error(), "exit status 9: NVIDIA-SMI has failed because it could not communicate")

	class, err = detect(t, fakeBin(t, "echo\n"), hardwareLimits)
	assert.Equal(t, "cpu", class)
	require.ErrorAs(t, err, &he)
	assert.Equal(t, "no-gpu-named", he.Reason)
}

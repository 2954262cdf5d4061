//go:build unix

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/internal/fakeserver"
	"github.com/perfgate/perfgate/perftest/resultfile"
)

// Issue 23: perfgate run hung for good (Ctrl-C ignored, only kill -9) when nvidia-smi was
// a script whose child held its output; `yes` as nvidia-smi grew it to 2.1 GB; both fell
// back to "hardware: cpu" without a word. Now the run finishes, says once what the lookup
// fell back to, and records it (hardware-fallback).
func TestRunWithHostileNvidiaSMI(t *testing.T) {
	for _, tc := range []struct {
		name, script, reason, note string
	}{
		{"never-answers", "sleep 3600 &\nwait\n", "timeout", "nvidia-smi: no answer in time (10s)"},
		{"endless-output", "exec yes 'NVIDIA H100 80GB HBM3'\n", "output-over-limit", "nvidia-smi: output over the limit of 65536 bytes"},
		{"fails", "echo 'NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver.'\nexit 9\n", "failed", "exit status 9: NVIDIA-SMI has failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			bin := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(bin, "nvidia-smi"), []byte("#!/bin/sh\n"+tc.script), 0o755))
			srv := fakeserver.Start(t, fakeserver.Config{})
			out := t.TempDir()
			cmd := perfgateCmd("run", "--endpoint", srv.BaseURL(), "--requests", "2", "--concurrency", "1", "--count", "1", "--warmup", "-1",
				"--out", out, "--name", "Smi", "-q")
			cmd.Env = append(cmd.Env, "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
			var stderr syncBuffer
			cmd.Stderr = &stderr
			require.NoError(t, cmd.Start())
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				require.NoError(t, err, "stderr:\n%s", stderr.String())
			case <-time.After(2 * time.Minute):
				_ = cmd.Process.Kill()
				t.Fatalf("perfgate run still runs after two minutes; stderr:\n%s", stderr.String())
			}
			assert.Equal(t, 1, strings.Count(stderr.String(), "perftest: hardware: "), "said once:\n%s", stderr.String())
			assert.Contains(t, stderr.String(), tc.note)
			assert.Contains(t, stderr.String(), "the results are recorded as hardware cpu, a fallback (config line hardware-fallback: "+tc.reason+")")
			f, err := resultfile.Read(filepath.Join(out, "Smi.txt"))
			require.NoError(t, err)
			assert.Equal(t, "cpu", f.ConfigValue("hardware"))
			assert.Equal(t, tc.reason, f.ConfigValue("hardware-fallback"))
		})
	}
}

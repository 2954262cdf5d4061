// Package machine describes and measures the machine a perf case runs on: the class of
// hardware whose results are comparable (the GPU model, or "cpu"), so that each class gates
// on its own baseline.
package machine

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/perfgate/perfgate/internal/proc"
)

// HardwareClass names the class of machine whose results are comparable: the GPU model as
// nvidia-smi reports it (`nvidia-smi --query-gpu=name --format=csv,noheader`), made
// path-safe by NormalizeClass ("NVIDIA H100 80GB HBM3" becomes "nvidia-h100-80gb-hbm3";
// several different models are joined with "+"), or "cpu" where there is no NVIDIA GPU or
// nvidia-smi gives no usable answer (DetectHardware says why). It is detected once per
// process.
func HardwareClass() string {
	c, _ := DetectHardware()
	return c
}

// DetectHardware is HardwareClass with the reason it is a fallback: nil where nvidia-smi
// named the GPUs, or where there is no nvidia-smi on PATH (a machine without a GPU);
// otherwise a *HardwareError saying what nvidia-smi did instead (no answer within 10
// seconds, more than 64 KiB of output, a failure, no GPU named), the class being "cpu".
func DetectHardware() (class string, fallback error) { return detected() }

var detected = sync.OnceValues(func() (string, error) {
	return detectHardware(context.Background(), "nvidia-smi", hardwareLimits)
})

// hardwareLimits bound the nvidia-smi that names the GPUs: it answers in well under a
// second on a machine with a driver loaded (a few seconds without persistence mode), in
// one short line per GPU.
var hardwareLimits = proc.Limits{Timeout: 10 * time.Second, MaxOutput: 64 << 10}

// HardwareError says why nvidia-smi's answer did not name the hardware class.
type HardwareError struct {
	// Reason is short, for a config line: "timeout", "output-over-limit", "failed" or
	// "no-gpu-named".
	Reason string
	Err    error
}

func (e *HardwareError) Error() string { return e.Err.Error() }

func (e *HardwareError) Unwrap() error { return e.Err }

// detectHardware asks the nvidia-smi at bin for the GPUs' names within lim.
func detectHardware(ctx context.Context, bin string, lim proc.Limits) (string, error) {
	out, err := proc.Output(ctx, lim, bin, "--query-gpu=name", "--format=csv,noheader")
	switch {
	case errors.Is(err, exec.ErrNotFound):
		return "cpu", nil
	case errors.Is(err, proc.ErrTimeout):
		return "cpu", &HardwareError{"timeout", err}
	case errors.Is(err, proc.ErrOutputLimit):
		return "cpu", &HardwareError{"output-over-limit", err}
	case err != nil:
		if line := firstLine(out); line != "" {
			err = fmt.Errorf("%w: %s", err, line)
		}
		return "cpu", &HardwareError{"failed", err}
	}
	if c := classFromNvidiaSMI(string(out)); c != "" {
		return c, nil
	}
	return "cpu", &HardwareError{"no-gpu-named", fmt.Errorf("%s named no GPU (printed %q)", bin, firstLine(out))}
}

// classFromNvidiaSMI turns nvidia-smi's one name per GPU into a class ("" for none).
func classFromNvidiaSMI(out string) string {
	var names []string
	for line := range strings.Lines(out) {
		if n := NormalizeClass(line); n != "" && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return strings.Join(names, "+")
}

// NormalizeClass lower-cases a name and keeps only letters, digits and '+', with single
// dashes between runs of them: safe as a folder name and as a benchmark config value.
func NormalizeClass(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '+' {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(r)
			continue
		}
		dash = true
	}
	return b.String()
}

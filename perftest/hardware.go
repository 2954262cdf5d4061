package perftest

import (
	"context"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// hardwareKey is the config key that records the hardware class of a run.
const hardwareKey = "hardware"

var (
	hardwareOnce  sync.Once
	hardwareClass string
)

// HardwareClass names the class of machine whose results are comparable: the GPU model as
// nvidia-smi reports it (`nvidia-smi --query-gpu=name --format=csv,noheader`), made
// path-safe ("NVIDIA H100 80GB HBM3" becomes "nvidia-h100-80gb-hbm3"; several different
// models are joined with "+"), or "cpu" where there is no NVIDIA GPU. The -perf.hardware
// flag (env PERFGATE_HARDWARE) overrides it, e.g. to share baselines between runners that
// nvidia-smi names differently. It is detected once per process.
func HardwareClass() string {
	if *flagHardware != "" {
		return normalizeHardware(*flagHardware)
	}
	hardwareOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, "nvidia-smi", "--query-gpu=name", "--format=csv,noheader").Output()
		hardwareClass = "cpu"
		if err == nil {
			if c := hardwareFromNvidiaSMI(string(out)); c != "" {
				hardwareClass = c
			}
		}
	})
	return hardwareClass
}

// hardwareFromNvidiaSMI turns nvidia-smi's one name per GPU into a class ("" for none).
func hardwareFromNvidiaSMI(out string) string {
	var names []string
	for line := range strings.Lines(out) {
		if n := normalizeHardware(line); n != "" && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return strings.Join(names, "+")
}

// normalizeHardware lower-cases a name and keeps only letters and digits, with single
// dashes between runs of them: safe as a folder name and as a benchmark config value.
func normalizeHardware(s string) string {
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

// BaselinePath is the conventional place of a case's baseline under root:
// root/<HardwareClass()>/<case>.txt, e.g. "baselines/nvidia-h100-80gb-hbm3/PerfChat.txt".
// Pass it to Result.Gate so that each class of machine gates on its own baseline:
//
//	res.Gate(t, perftest.BaselinePath("../../baselines", "PerfChat"))
func BaselinePath(root, caseName string) string {
	return filepath.Join(root, HardwareClass(), fileName(caseName)+".txt")
}

// withHardware returns cfg with the hardware class recorded (after goarch, or first) when
// it is not already there.
func withHardware(cfg []KV) []KV {
	if slices.ContainsFunc(cfg, func(kv KV) bool { return kv.Key == hardwareKey }) {
		return cfg
	}
	at := 0
	for i, kv := range cfg {
		if kv.Key == "goos" || kv.Key == "goarch" {
			at = i + 1
		}
	}
	return slices.Insert(slices.Clone(cfg), at, KV{hardwareKey, HardwareClass()})
}

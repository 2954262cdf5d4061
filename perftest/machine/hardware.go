// Package machine describes and measures the machine a perf case runs on: the class of
// hardware whose results are comparable (the GPU model, or "cpu"), so that each class gates
// on its own baseline.
package machine

import (
	"context"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"
)

var (
	classOnce sync.Once
	class     string
)

// HardwareClass names the class of machine whose results are comparable: the GPU model as
// nvidia-smi reports it (`nvidia-smi --query-gpu=name --format=csv,noheader`), made
// path-safe by NormalizeClass ("NVIDIA H100 80GB HBM3" becomes "nvidia-h100-80gb-hbm3";
// several different models are joined with "+"), or "cpu" where there is no NVIDIA GPU.
// It is detected once per process.
func HardwareClass() string {
	classOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, "nvidia-smi", "--query-gpu=name", "--format=csv,noheader").Output()
		class = "cpu"
		if err == nil {
			if c := classFromNvidiaSMI(string(out)); c != "" {
				class = c
			}
		}
	})
	return class
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

//go:build !unix

package machine

import (
	"errors"
	"runtime"
	"time"
)

// ownCPU is not measured outside unix; the CPU figures are then missing.
func ownCPU() (time.Duration, error) {
	return 0, errors.New("this process's CPU time is not measured on " + runtime.GOOS)
}

//go:build unix

package perftest

import (
	"os"
	"syscall"
)

// reraiseInterrupt sends SIGINT to the process again, now that perftest no longer catches
// it, so the test binary ends as an interrupted one does.
func reraiseInterrupt() { _ = syscall.Kill(os.Getpid(), syscall.SIGINT) }

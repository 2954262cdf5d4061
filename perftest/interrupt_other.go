//go:build !unix

package perftest

import "os"

// reraiseInterrupt ends the process as an interrupt would have: where a process cannot
// signal itself, with the conventional exit status of a SIGINT.
func reraiseInterrupt() { os.Exit(130) }

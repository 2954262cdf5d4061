//go:build !unix

package proc

import "os/exec"

// ownGroup leaves cmd as it is: without process groups, the context's end kills the
// program only, and WaitDelay bounds the wait for output a child holds open.
func ownGroup(*exec.Cmd) {}

func killGroup(*exec.Cmd) {}

//go:build linux

package perftest

// coarseWaitForTest is the wait above which the waiter sleeps on a Go timer first.
const coarseWaitForTest = coarseWait

// Package skipped keeps the perf cases of this test binary that the gate skipped rather
// than passed (INCONCLUSIVE), so that perftest/perfmain can list them after the last test.
package skipped

import "sync"

// Case is one skipped case: its name and why it was skipped.
type Case struct{ Name, Why string }

var (
	mu    sync.Mutex
	cases []Case
)

// Add records a skipped case.
func Add(name, why string) {
	mu.Lock()
	defer mu.Unlock()
	cases = append(cases, Case{name, why})
}

// All returns the cases skipped so far.
func All() []Case {
	mu.Lock()
	defer mu.Unlock()
	return append([]Case(nil), cases...)
}

// Reset forgets the cases recorded so far (for tests).
func Reset() {
	mu.Lock()
	defer mu.Unlock()
	cases = nil
}

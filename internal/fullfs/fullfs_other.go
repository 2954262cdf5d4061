//go:build !linux

package fullfs

import (
	"errors"
	"testing"
)

func mount(string, int) error { return errors.New("only on Linux") }

func runChild(t *testing.T, _ string) {
	t.Helper()
	t.Skip("no small filesystem for this test: it needs Linux's user and mount namespaces")
}

// Fill is not reached where Run skips.
func Fill(t testing.TB, _ string, _ int64) string {
	t.Helper()
	t.Skip("no small filesystem for this test: it needs Linux's user and mount namespaces")
	return ""
}

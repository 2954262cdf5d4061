// Package golden checks output against golden files in a test's testdata folder, byte for
// byte, as golang.org/x/perf's cmd/benchstat tests do: on a mismatch it writes NAME.got
// beside the golden file, and the test binary's -update flag rewrites the golden files.
package golden

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// Check compares got with testdata/name, or writes it there with -update.
func Check(t testing.TB, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("no golden file %s (go test -run %s -update writes it): %v", path, t.Name(), err)
	}
	if !bytes.Equal(got, want) {
		_ = os.WriteFile(path+".got", got, 0o644)
		t.Errorf("output differs from %s (see %s.got; -update rewrites it)", path, path)
	}
}

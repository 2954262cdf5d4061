package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	body := strings.Repeat("\t_ = 1\n", 5)
	src := "package p\n\nvar table = []int{\n" + strings.Repeat("1,\n", 20) + "}\n\n" +
		"func short() {\n" + body + "}\n\nfunc long() {\n" + body + body + "}\n"
	if err := os.WriteFile(filepath.Join(dir, "p.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	// A test file's functions do not count.
	if err := os.WriteFile(filepath.Join(dir, "p_test.go"), []byte("package p\n\nfunc testLong() {\n"+body+body+"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	n, err := check(&out, 8, []string{dir})
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(dir, "p.go") + ":34: long is 12 lines (at most 8)\n"
	if n != 1 || out.String() != want {
		t.Errorf("check = %d, %q; want 1, %q", n, out.String(), want)
	}
}

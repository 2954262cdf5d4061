// Command funclen lists the functions over a number of lines in the non-test Go files below
// the folders it is given, and exits 1 when there is one. ci/check runs it over perftest,
// fixtures and backends: a function a reader cannot hold on one or two screens is split into
// functions of one job each. Tables (variable declarations) are not functions and do not
// count.
//
//	go run ./ci/funclen [-max 80] DIR...
package main

import (
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

func main() {
	limit := flag.Int("max", 80, "the most lines a function may have")
	flag.Parse()
	n, err := check(os.Stdout, *limit, flag.Args())
	if err != nil {
		fmt.Fprintln(os.Stderr, "funclen:", err)
		os.Exit(2)
	}
	if n > 0 {
		os.Exit(1)
	}
}

// check prints each function over limit lines below dirs and returns how many there are.
func check(w io.Writer, limit int, dirs []string) (int, error) {
	long := 0
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			fset := token.NewFileSet()
			f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
			if err != nil {
				return err
			}
			for _, decl := range f.Decls {
				fn, ok := decl.(*ast.FuncDecl)
				if !ok || fn.Body == nil {
					continue
				}
				start, end := fset.Position(fn.Pos()), fset.Position(fn.End())
				if lines := end.Line - start.Line + 1; lines > limit {
					fmt.Fprintf(w, "%s:%d: %s is %d lines (at most %d)\n", path, start.Line, fn.Name.Name, lines, limit)
					long++
				}
			}
			return nil
		})
		if err != nil {
			return long, err
		}
	}
	return long, nil
}

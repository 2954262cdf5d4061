package report

import (
	"os"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/perfgate/perfgate/internal/golden"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// examples are the committed result folders (mktestdata.go writes them).
var examples = []string{"gated", "sweep", "ab", "history"}

func load(t *testing.T, dir string) *Report {
	t.Helper()
	r, err := Load("testdata/"+dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestMarkdownGolden checks report.md of every example byte for byte.
func TestMarkdownGolden(t *testing.T) {
	for _, ex := range examples {
		t.Run(ex, func(t *testing.T) {
			var b strings.Builder
			if err := load(t, ex).WriteMarkdown(&b); err != nil {
				t.Fatal(err)
			}
			golden.Check(t, ex+".md", []byte(b.String()))
		})
	}
	_ = os.Stdout
}

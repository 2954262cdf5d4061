package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRepositoryDocs checks this repository's README.md and docs/: a dead relative link,
// a missing anchor or a page that README does not reach fails it.
func TestRepositoryDocs(t *testing.T) {
	var out strings.Builder
	n, err := check(&out, filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if n > 0 {
		t.Errorf("%d problems in the documentation:\n%s", n, out.String())
	}
}

func TestCheckFindsProblems(t *testing.T) {
	root := t.TempDir()
	write := func(rel, text string) {
		t.Helper()
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("README.md", "# Top\n\n[a](docs/a.md#the-gates-p-value) [b](docs/a.md#nope) [c](missing.go)\n"+
		"[d](#top) [e](https://example.com/x) `[f](inline-code.md)`\n```\n[g](fenced.md)\n```\n[h](docs/a.md#twice-1)\n")
	write("docs/a.md", "# A\n\n## The gate's `p`-value\n\n## Twice\n\n## Twice\n\n[back](../README.md#top)\n")
	write("docs/orphan.md", "# Orphan\n")
	var out strings.Builder
	n, err := check(&out, root)
	if err != nil {
		t.Fatal(err)
	}
	want := "README.md:3: dead link docs/a.md#nope: docs/a.md has no heading with anchor #nope\n" +
		"README.md:3: dead link missing.go: missing.go does not exist\n" +
		"docs/orphan.md: not reachable from README.md\n"
	if n != 3 || out.String() != want {
		t.Errorf("check = %d,\n%s\nwant 3,\n%s", n, out.String(), want)
	}
}

func TestSlug(t *testing.T) {
	for h, want := range map[string]string{
		"Workloads (fixtures)":                "workloads-fixtures",
		"What perfgate promises under faults": "what-perfgate-promises-under-faults",
		"`perfgate compare`":                  "perfgate-compare",
		"Reports, progress, GPU telemetry":    "reports-progress-gpu-telemetry",
		"A [linked](x.md) heading":            "a-linked-heading",
		"Baselines per hardware class, A/B":   "baselines-per-hardware-class-ab",
	} {
		if got := slug(h); got != want {
			t.Errorf("slug(%q) = %q, want %q", h, got, want)
		}
	}
}

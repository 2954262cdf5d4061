package main

import (
	"fmt"
	"strings"

	"github.com/perfgate/perfgate/perftest"
)

// caseSettings are the flags addCaseFlags defines, by the Case field each sets: the
// runner's messages name these ("set --model") where a go test's name the field ("set
// Case.Model"). A command with more flags adds its own to the map it gets.
func caseSettings() perftest.Settings {
	return perftest.Settings{
		"Model":             "--model",
		"Name":              "--name",
		"Timeout":           "--timeout",
		"StallTimeout":      "--stall-timeout",
		"Count":             "--count",
		"Warmup":            "--warmup",
		"AllowShortOutputs": "--allow-short-outputs",
		"Extra":             "--extra",
	}
}

// checkCaseName refuses a --name the runner would take but that could share its files
// with another: '/' (a sub-benchmark) and ':' both become '_' in file names, so "a/b",
// "a:b" and "a_b" would write a_b.txt. The runner refuses the rest (white space, control
// characters) for every caller.
func checkCaseName(name string) error {
	if i := strings.IndexAny(name, "/:"); i >= 0 {
		return fmt.Errorf("--name %q: no %q in the name of a command's case (it would become '_' in the file names)", name, name[i])
	}
	return nil
}

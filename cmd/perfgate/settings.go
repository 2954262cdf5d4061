package main

import "github.com/perfgate/perfgate/perftest"

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

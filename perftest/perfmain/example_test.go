package perfmain_test

import (
	"github.com/perfgate/perfgate/perftest/perfmain"
)

// A perf test package's TestMain: after the tests, the cases the gate skipped as
// INCONCLUSIVE are listed (here none were, so nothing is printed).
func ExampleWrap() {
	var m interface{ Run() int } = noTests{} // in TestMain: the *testing.M
	code := perfmain.Wrap(m).Run()
	_ = code // in TestMain: os.Exit(code)
	// Output:
}

type noTests struct{}

func (noTests) Run() int { return 0 }

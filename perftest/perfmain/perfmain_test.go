package perfmain

import (
	"strings"
	"testing"

	"github.com/perfgate/perfgate/perftest/internal/skipped"
)

type fakeM struct {
	code int
	skip []string
}

func (f fakeM) Run() int {
	for _, name := range f.skip {
		skipped.Add(name, "ttft-p99-sec +40% (the busier machine explains 45%)")
	}
	return f.code
}

func TestRunListsSkippedCasesAfterTheTests(t *testing.T) {
	t.Cleanup(skipped.Reset)
	var out strings.Builder
	code := M{m: fakeM{code: 0, skip: []string{"PerfA", "PerfB"}}, out: &out}.Run()
	if code != 0 {
		t.Errorf("exit code %d, want the tests' 0", code)
	}
	want := "perfgate: PerfA: INCONCLUSIVE (ttft-p99-sec +40% (the busier machine explains 45%))\n" +
		"perfgate: PerfB: INCONCLUSIVE (ttft-p99-sec +40% (the busier machine explains 45%))\n" +
		"perfgate: 2 perf cases INCONCLUSIVE, skipped and not passed: rerun on a quieter machine, or with -perf.strict to fail such cases\n"
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}
}

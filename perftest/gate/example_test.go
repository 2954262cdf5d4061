package gate_test

import (
	"fmt"
	"log"
	"os"

	"github.com/perfgate/perfgate/perftest/gate"
	"github.com/perfgate/perfgate/perftest/resultfile"
)

// Compare two result files as the gate does: slower.txt has a 20% slower inter-token
// latency, a 10% slower end-to-end latency and 8% more requests per second than base.txt.
func ExampleCompare() {
	base, err := resultfile.Read("testdata/base.txt")
	if err != nil {
		log.Fatal(err)
	}
	cur, err := resultfile.Read("testdata/slower.txt")
	if err != nil {
		log.Fatal(err)
	}
	if diff := resultfile.Diff(base, cur, "baseline", "current"); diff != "" {
		log.Fatalf("unlike runs:\n%s", diff)
	}
	// Directions come from the files' `Unit ... better=` lines; an error rate gets no
	// threshold: any significant rise fails.
	rep := gate.Compare(base, cur, gate.Options{Units: map[string]gate.Unit{"error-rate": {LowerBetter: true}}})
	fmt.Println(rep.Title())
	for _, d := range rep.Regressions() {
		fmt.Printf("%s %+.0f%% (threshold %.0f%%, smallest detectable %.1f%%)\n", d.Unit, 100*d.Change, 100*d.Threshold, 100*d.MDE)
	}
	for _, d := range rep.Improvements() {
		fmt.Printf("improved: %s %+.0f%%\n", d.Unit, 100*d.Change)
	}
	fmt.Println()
	if err := rep.WriteText(os.Stdout); err != nil {
		log.Fatal(err)
	}
	// Output:
	// PerfX: 2 metrics regressed
	// itl-p50-sec +20% (threshold 5%, smallest detectable 5.6%)
	// e2e-p50-sec +10% (threshold 5%, smallest detectable 5.3%)
	// improved: req/s +8%
	//
	// metric        baseline     current      change   p (holm)         threshold  MDE   verdict
	// ttft-p50-sec  20.07m ± 1%  20.00m ± 2%  -0.39%   1.000 (n=10+10)  5.0%       5.5%  ~
	// itl-p50-sec   4.995m ± 1%  6.018m ± 2%  +20.48%  0.000 (n=10+10)  5.0%       5.6%  REGRESSION
	// e2e-p50-sec   499.7m ± 2%  551.6m ± 1%  +10.39%  0.000 (n=10+10)  5.0%       5.3%  REGRESSION
	// req/s         29.83 ± 1%   32.33 ± 1%   +8.39%   0.000 (n=10+10)  5.0%       5.4%  improvement
	// error-rate    0.000        0.000        ~        1.000 (n=10+10)  0.0%       n/a   ~
	// alpha 0.05 after Holm correction across 5 metrics; MDE: smallest regression caught with 80% probability at these sample sizes and spread (see docs/gate.md)
}

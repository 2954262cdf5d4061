package report_test

import (
	"fmt"
	"log"
	"os"

	"github.com/perfgate/perfgate/perftest/report"
)

// Load a results folder, read its verdicts, and write report.md and report.html.
func ExampleLoad() {
	r, err := report.Load("testdata/ab", report.Options{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(r.Headline())
	for _, ab := range r.ABs {
		v, why := ab.Verdict()
		fmt.Printf("%s: %s: %s\n", ab.Name, v, why)
	}
	dir, _ := os.MkdirTemp("", "report")
	defer os.RemoveAll(dir)
	if _, _, err := r.Write(dir); err != nil {
		log.Fatal(err)
	}
	// Output:
	// no regression in 1 compared run
	// PerfAB: improved: 2 metrics improved: itl-p50-sec -24.1%, e2e-p50-sec -6.2%
}

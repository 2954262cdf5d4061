package resultfile_test

import (
	"fmt"
	"strings"

	"github.com/perfgate/perfgate/perftest/resultfile"
)

// A baseline cut short inside its first result line, and one edited to say that a higher
// time to first token is better, are refused with the file, the line and the field: read as
// numbers, the first would pass every comparison and the second would call slowdowns
// improvements.
func ExampleParse_refused() {
	for _, in := range []string{
		"Unit ttft-p50-sec better=lower\nUnit req/s better=higher\n\nBenchmarkPerfX 100 0.020 ttft-p",
		"Unit ttft-p50-sec better=higher\n\nBenchmarkPerfX 100 0.020 ttft-p50-sec 31.5 req/s\n",
	} {
		_, err := resultfile.Parse(strings.NewReader(in), "old.txt")
		fmt.Println(err)
	}
	// Output:
	// old.txt:4: unit "ttft-p" is not one perfgate writes, and no "Unit ttft-p better=lower|higher" line gives its direction: "ttft-p50-sec" cut short?; the file ends inside this line, without a newline
	// old.txt:1: Unit ttft-p50-sec better=higher: perfgate knows lower ttft-p50-sec is better; a file cannot reverse a known unit's direction (fix or remove the line)
}

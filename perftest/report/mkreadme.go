//go:build ignore

// mkreadme writes the plot README shows: the committed gated example's (testdata/gated,
// from mktestdata.go) inter-token latency, baseline against a run with decode 20% slower,
// one dot per repetition, as report.html draws it. Run it from this folder:
//
//	go run mkreadme.go -o ../../docs/report-example.svg
package main

import (
	"flag"
	"io"
	"log"
	"os"
	"path/filepath"

	"github.com/perfgate/perfgate/internal/atomicfile"
	"github.com/perfgate/perfgate/perftest/metric"
	"github.com/perfgate/perfgate/perftest/report"
)

func main() {
	out := flag.String("o", "../../docs/report-example.svg", "the SVG file to write")
	chart := flag.String("chart", metric.ITLP50+" (REGRESSION)", "the title of the chart to write")
	flag.Parse()
	r, err := report.Load("testdata/gated", report.Options{})
	if err != nil {
		log.Fatal(err)
	}
	for _, c := range r.Cases[0].Charts() {
		if c.Title != *chart {
			continue
		}
		c.Title = "PerfChat " + metric.ITLP50 + ": baseline against decode 20% slower (REGRESSION)"
		c.Width, c.Height = 6, 3.2
		svg, err := c.SVG()
		if err != nil {
			log.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
			log.Fatal(err)
		}
		if err := atomicfile.Write(*out, func(w io.Writer) error { _, err := w.Write(svg); return err }); err != nil {
			log.Fatal(err)
		}
		log.Printf("wrote %s (%d bytes)", *out, len(svg))
		return
	}
	log.Fatalf("no chart titled %q in testdata/gated", *chart)
}

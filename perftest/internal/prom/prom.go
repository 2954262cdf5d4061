// Package prom reads a server's Prometheus text exposition into one number per series name,
// summed over labels: what perfgate needs of an engine's /metrics to compute its server-side
// figures around a repetition.
package prom

import (
	"fmt"
	"io"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Scrape is one reading of a server's metrics: every series summed over its labels,
// histograms and summaries as NAME_sum and NAME_count.
type Scrape map[string]float64

// Parse parses Prometheus text exposition.
func Parse(r io.Reader) (Scrape, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parse metrics: %w", err)
	}
	s := Scrape{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				s[name] += m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				s[name] += m.GetGauge().GetValue()
			case dto.MetricType_UNTYPED:
				s[name] += m.GetUntyped().GetValue()
			case dto.MetricType_HISTOGRAM:
				s[name+"_sum"] += m.GetHistogram().GetSampleSum()
				s[name+"_count"] += float64(m.GetHistogram().GetSampleCount())
			case dto.MetricType_SUMMARY:
				s[name+"_sum"] += m.GetSummary().GetSampleSum()
				s[name+"_count"] += float64(m.GetSummary().GetSampleCount())
			}
		}
	}
	return s, nil
}

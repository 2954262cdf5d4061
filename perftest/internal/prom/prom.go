// Package prom reads a server's Prometheus text exposition into one number per series name,
// summed over labels: what perfgate needs of an engine's /metrics to compute its server-side
// figures around a repetition.
package prom

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Scrape is one reading of a server's metrics: every series summed over its labels,
// histograms and summaries as NAME_sum and NAME_count, and the same sums restricted to one
// label value as NAME{label="value"} (NAME_sum{label="value"}, ...), for series such as
// SGLang's cached_tokens_total whose labels split one figure several ways.
type Scrape map[string]float64

// Parse parses Prometheus text exposition.
//
// Non-finite samples (NaN, ±Inf) are left out, and their series named in dropped.
func Parse(r io.Reader) (s Scrape, dropped []string, err error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, nil, fmt.Errorf("parse metrics: %w", err)
	}
	s = Scrape{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			add := func(key string, v float64) {
				s[key] += v
				for _, l := range m.GetLabel() {
					s[key+"{"+l.GetName()+"="+strconv.Quote(l.GetValue())+"}"] += v
				}
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				add(name, m.GetCounter().GetValue())
			case dto.MetricType_GAUGE:
				add(name, m.GetGauge().GetValue())
			case dto.MetricType_UNTYPED:
				add(name, m.GetUntyped().GetValue())
			case dto.MetricType_HISTOGRAM:
				add(name+"_sum", m.GetHistogram().GetSampleSum())
				add(name+"_count", float64(m.GetHistogram().GetSampleCount()))
			case dto.MetricType_SUMMARY:
				add(name+"_sum", m.GetSummary().GetSampleSum())
				add(name+"_count", float64(m.GetSummary().GetSampleCount()))
			}
		}
	}
	for k, v := range s {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			delete(s, k) // a non-finite value describes nothing a result can hold
			if !strings.Contains(k, "{") {
				dropped = append(dropped, k)
			}
		}
	}
	slices.Sort(dropped)
	return s, dropped, nil
}

package mock

import (
	"slices"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// seriesClusterKVUsage is the mean KV-cache usage over a cluster's workers.
const seriesClusterKVUsage = "perfgate_cluster_kv_cache_usage_perc"

var workerLabel = "worker"

// clusterMetrics gathers a cluster's /metrics: every worker's vLLM series with a worker
// label added, and the router's series.
type clusterMetrics struct {
	c      *Cluster
	reg    *prometheus.Registry
	routed *prometheus.CounterVec
	ovl    *prometheus.CounterVec
	prompt *prometheus.CounterVec
}

func newClusterMetrics(c *Cluster) *clusterMetrics {
	m := &clusterMetrics{c: c, reg: prometheus.NewRegistry()}
	lab := prometheus.Labels{"model_name": c.cfg.Worker.Model}
	counter := func(name, help string) *prometheus.CounterVec {
		v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: lab}, []string{"worker"})
		m.reg.MustRegister(v)
		return v
	}
	m.routed = counter("perfgate_router_requests_total", "Requests the router sent to the worker.")
	m.ovl = counter("perfgate_router_overlap_blocks_total", "Prompt blocks the router expected the chosen worker to hold (from its KV events).")
	m.prompt = counter("perfgate_router_prompt_blocks_total", "Full prompt blocks of the requests routed to the worker.")
	for i := range c.cfg.Workers {
		w := strconv.Itoa(i)
		m.routed.WithLabelValues(w)
		m.ovl.WithLabelValues(w)
		m.prompt.WithLabelValues(w)
	}
	book := func(name, help string, f func(b *workerBook) float64) {
		for i := range c.cfg.Workers {
			m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help,
				ConstLabels: prometheus.Labels{"model_name": c.cfg.Worker.Model, "worker": strconv.Itoa(i)}},
				func() float64 {
					r := c.router
					r.mu.Lock()
					defer r.mu.Unlock()
					return f(&r.books[i])
				}))
		}
	}
	book("perfgate_router_active_blocks", "KV blocks of the requests in flight on the worker, as the router books them.",
		func(b *workerBook) float64 { return float64(b.activeBlocks) })
	book("perfgate_router_inflight_requests", "Requests in flight on the worker, as the router books them.",
		func(b *workerBook) float64 { return float64(b.inflight) })
	book("perfgate_router_pending_prefill_tokens", "Uncached prompt tokens of the worker's requests before their first token.",
		func(b *workerBook) float64 { return float64(b.pending) })
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "perfgate_router_indexed_blocks", ConstLabels: lab,
		Help: "Distinct block hashes the router's index holds for some worker."},
		func() float64 {
			c.router.mu.Lock()
			defer c.router.mu.Unlock()
			return float64(c.router.index.size())
		}))
	for _, kind := range []string{"removed", "stored"} {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "perfgate_router_kv_events_total",
			Help:        "KV events the router received from the workers.",
			ConstLabels: prometheus.Labels{"model_name": c.cfg.Worker.Model, "kind": kind}},
			func() float64 {
				c.router.mu.Lock()
				defer c.router.mu.Unlock()
				if kind == "stored" {
					return float64(c.router.index.stored)
				}
				return float64(c.router.index.removed)
			}))
	}
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: seriesClusterKVUsage, ConstLabels: lab,
		Help: "KV-cache usage averaged over the workers. 1 means 100 percent usage."},
		func() float64 {
			sum := 0.0
			for _, s := range c.workers {
				s.mu.Lock()
				sum += s.eng.kvUsage()
				s.mu.Unlock()
			}
			return sum / float64(len(c.workers))
		}))
	return m
}

// count counts a routing decision.
func (m *clusterMetrics) count(t *ticket) {
	w := strconv.Itoa(t.worker)
	m.routed.WithLabelValues(w).Inc()
	m.ovl.WithLabelValues(w).Add(float64(t.overlap))
	m.prompt.WithLabelValues(w).Add(float64(len(t.hashes)))
}

// Gather implements prometheus.Gatherer: the router's families, then each worker family
// with one series per worker, labelled worker="i".
func (m *clusterMetrics) Gather() ([]*dto.MetricFamily, error) {
	out, err := m.reg.Gather()
	if err != nil {
		return nil, err
	}
	byName := map[string]*dto.MetricFamily{}
	var order []string
	for i, s := range m.c.workers {
		fams, err := s.m.reg.Gather()
		if err != nil {
			return nil, err
		}
		w := strconv.Itoa(i)
		for _, f := range fams {
			g, ok := byName[f.GetName()]
			if !ok {
				g = &dto.MetricFamily{Name: f.Name, Help: f.Help, Type: f.Type}
				byName[f.GetName()] = g
				order = append(order, f.GetName())
			}
			for _, x := range f.Metric {
				labels := append(slices.Clone(x.Label), &dto.LabelPair{Name: &workerLabel, Value: &w})
				slices.SortFunc(labels, func(a, b *dto.LabelPair) int {
					switch {
					case a.GetName() < b.GetName():
						return -1
					case a.GetName() > b.GetName():
						return 1
					}
					return 0
				})
				g.Metric = append(g.Metric, &dto.Metric{Label: labels, Gauge: x.Gauge, Counter: x.Counter,
					Summary: x.Summary, Untyped: x.Untyped, Histogram: x.Histogram, TimestampMs: x.TimestampMs})
			}
		}
	}
	for _, name := range order {
		out = append(out, byName[name])
	}
	return out, nil
}

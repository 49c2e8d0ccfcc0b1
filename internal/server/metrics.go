package server

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/suanli/suanli/internal/ledger"
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/network"
)

// metrics are the server's Prometheus series.
type metrics struct {
	queue     prometheus.Gauge
	decisions *prometheus.CounterVec
	latency   prometheus.Histogram
	commits   *prometheus.CounterVec
	submits   prometheus.Counter
	leader    prometheus.Gauge
	// auditBroken is 1 when the audit log failed verification at start.
	auditBroken prometheus.Gauge
}

func newMetrics(reg *prometheus.Registry, net *network.Network) *metrics {
	m := &metrics{
		queue: prometheus.NewGauge(prometheus.GaugeOpts{Name: "suanli_queue_depth", Help: "Jobs pending or blocked, as the scheduling leader sees them."}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "suanli_decisions_total",
			Help: "Scheduling decisions committed, by resulting state (rate() gives decisions/s)."}, []string{"state"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "suanli_decision_seconds",
			Help: "Time to decide and commit one batch of scheduling decisions.", Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18)}),
		commits: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "suanli_commits_total",
			Help: "Scheduler commits by outcome (ok, conflict, error)."}, []string{"outcome"}),
		submits: prometheus.NewCounter(prometheus.CounterOpts{Name: "suanli_submits_total", Help: "Jobs acknowledged by this replica."}),
		leader:  prometheus.NewGauge(prometheus.GaugeOpts{Name: "suanli_leader", Help: "1 while this replica runs the scheduling loop."}),
		auditBroken: prometheus.NewGauge(prometheus.GaugeOpts{Name: "suanli_audit_broken",
			Help: "1 if the audit log failed verification (hash chain or signatures) when this replica started."}),
	}
	reg.MustRegister(m.queue, m.decisions, m.latency, m.commits, m.submits, m.leader, m.auditBroken)
	return m
}

// allocCollector reports allocated FP16 EFLOPS by vendor and site from the
// store's committed placements, at scrape time.
type allocCollector struct {
	s    *Server
	desc *prometheus.Desc
}

func (c allocCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c allocCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	alloc, err := c.s.allocation(ctx)
	if err != nil {
		return
	}
	type key struct{ vendor, site string }
	sums := map[key]int64{}
	for i := range c.s.net.Nodes {
		n := &c.s.net.Nodes[i]
		milli := alloc[n.ID]
		m := c.s.net.Model(n.Model)
		if m == nil {
			continue
		}
		g, _, _ := m.FP16GFLOPS()
		sums[key{m.Vendor, string(n.Site)}] += milli * g / model.MilliCard
	}
	for k, g := range sums {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(g)/1e9, k.vendor, k.site)
	}
}

// allocation sums the committed placements per node, in thousandths of a
// card, from the replica's job index.
func (s *Server) allocation(ctx context.Context) (map[model.NodeID]int64, error) {
	if err := s.v.wait(ctx); err != nil {
		return nil, err
	}
	alloc := map[model.NodeID]int64{}
	for _, j := range s.v.liveJobs() {
		for _, a := range j.rec.Placement.Assignments {
			if a.ShareMilli > 0 {
				alloc[a.Node] += int64(a.ShareMilli)
			} else {
				alloc[a.Node] += int64(len(a.Cards)) * model.MilliCard
			}
		}
	}
	return alloc, nil
}

// hostUse is the host CPU (thousandths of a core) and memory (MiB) live
// placements hold on one node.
type hostUse struct{ cpuMilli, memMiB int64 }

// hostAllocation sums the host CPU and memory of committed placements per
// node, from the replica's job index.
func (s *Server) hostAllocation(ctx context.Context) (map[model.NodeID]hostUse, error) {
	if err := s.v.wait(ctx); err != nil {
		return nil, err
	}
	use := map[model.NodeID]hostUse{}
	for _, j := range s.v.liveJobs() {
		for _, a := range j.rec.Placement.Assignments {
			u := use[a.Node]
			u.cpuMilli += a.CPUMilli
			u.memMiB += a.HostMemMiB
			use[a.Node] = u
		}
	}
	return use, nil
}

// Capacity implements httpapi.Info: the live ledger, and the capacity of
// lost nodes as unknown.
func (s *Server) Capacity(ctx context.Context) (any, error) {
	alloc, err := s.allocation(ctx)
	if err != nil {
		return nil, err
	}
	return capacityReport{Report: ledger.Capacity(s.net, func(id model.NodeID) int64 { return alloc[id] }), Unknown: s.unknown()}, nil
}

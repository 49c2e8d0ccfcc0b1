// Package ledger rolls a network's capacity up in exact integer FP16 GFLOPS
// (by operator, site, vendor, model, origin, ownership, AI vs general) and
// meters usage. Every total carries how much of it rests on estimates.
package ledger

import (
	"sort"

	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/network"
)

// Bucket is the capacity of one group of cards.
type Bucket struct {
	Key   string `json:"key"`
	Cards int64  `json:"cards"`
	// GFLOPS is the installed dense FP16 throughput.
	GFLOPS int64 `json:"gflops"`
	// ByConfidence splits GFLOPS by the confidence of the per-card figure.
	ByConfidence map[catalog.Confidence]int64 `json:"by_confidence"`
	// AllocatedMilli is allocated card capacity in thousandths of a card;
	// AllocatedGFLOPS the throughput it holds. Zero for a static report.
	AllocatedMilli  int64 `json:"allocated_milli_cards"`
	AllocatedGFLOPS int64 `json:"allocated_gflops"`
}

// EstimatedGFLOPS is the part of the total that rests on figures that are
// not vendor specifications or observations.
func (b *Bucket) EstimatedGFLOPS() int64 {
	var e int64
	for c, g := range b.ByConfidence {
		if c.Estimate() {
			e += g
		}
	}
	return e
}

// FreeGFLOPS is installed minus allocated throughput.
func (b *Bucket) FreeGFLOPS() int64 { return b.GFLOPS - b.AllocatedGFLOPS }

func (b *Bucket) add(cards, perCard int64, conf catalog.Confidence, allocMilli int64) {
	b.Cards += cards
	b.GFLOPS += cards * perCard
	if b.ByConfidence == nil {
		b.ByConfidence = map[catalog.Confidence]int64{}
	}
	b.ByConfidence[conf] += cards * perCard
	b.AllocatedMilli += allocMilli
	b.AllocatedGFLOPS += allocMilli * perCard / model.MilliCard
}

// Dimensions of a capacity report, in display order.
// "operator-ownership" splits each operator's capacity into its self-built
// and leased parts (keys "China Mobile, self-built"), the figures
// operators publish.
var Dimensions = []string{"operator", "operator-ownership", "site", "vendor", "model", "origin", "ownership"}

// General is a network's general-purpose (CPU) compute.
type General struct {
	CPUCores int64 `json:"cpu_cores"`
	GFLOPS   int64 `json:"gflops"`
}

// Report is a network's capacity ledger.
type Report struct {
	Network      string              `json:"network"`
	Illustrative bool                `json:"illustrative"`
	Total        Bucket              `json:"ai"`
	General      General             `json:"general"`
	Breakdowns   map[string][]Bucket `json:"breakdowns"`
	Target       *Progress           `json:"target,omitempty"`
	// Power is the power ledger: installed and drawn MW per site.
	Power *PowerReport `json:"power,omitempty"`
	// Reported sets the operators' published figures beside what the
	// network's sites sum to.
	Reported []ReportedFigure `json:"reported,omitempty"`
}

// ReportedFigure is an operator's published capacity and the network's
// own sum for the same operator and ownership.
type ReportedFigure struct {
	Key            string `json:"key"` // as in the operator-ownership (or operator) breakdown
	ReportedGFLOPS int64  `json:"reported_gflops"`
	SumGFLOPS      int64  `json:"sum_gflops"`
	Source         string `json:"source,omitempty"`
}

// Allocation gives the allocated capacity of a node in thousandths of a
// card; nil means nothing is allocated.
type Allocation func(model.NodeID) int64

// Capacity computes the ledger of a network. Every model in a loaded network
// has a known FP16 figure (the loader refuses it otherwise).
func Capacity(n *network.Network, alloc Allocation) Report {
	r := Report{Network: n.Name, Illustrative: n.Illustrative, Total: Bucket{Key: "total"}, Breakdowns: map[string][]Bucket{}}
	groups := map[string]map[string]*Bucket{}
	for _, d := range Dimensions {
		groups[d] = map[string]*Bucket{}
	}
	sites := map[model.SiteID]*model.Site{}
	for i := range n.Sites {
		s := &n.Sites[i]
		sites[s.ID] = s
		r.General.CPUCores += s.GeneralCPUCores
		r.General.GFLOPS += s.GeneralCPUCores * s.GFLOPSPerCPUCore
	}
	for i := range n.Nodes {
		node := &n.Nodes[i]
		m := n.Model(node.Model)
		per, conf, _ := m.FP16GFLOPS()
		var a int64
		if alloc != nil {
			a = alloc(node.ID)
		}
		site := sites[node.Site]
		keys := map[string]string{
			"operator": site.Operator, "site": string(site.ID), "vendor": m.Vendor,
			"model": m.ID, "origin": m.Origin(), "ownership": string(site.Ownership),
			"operator-ownership": site.Operator + ", " + string(site.Ownership),
		}
		cards := int64(node.Cards)
		r.Total.add(cards, per, conf, a)
		for d, k := range keys {
			b := groups[d][k]
			if b == nil {
				b = &Bucket{Key: k}
				groups[d][k] = b
			}
			b.add(cards, per, conf, a)
		}
		// Nodes' own CPUs count as general-purpose compute at their site's
		// per-core rate.
		r.General.CPUCores += node.CPUCores
		r.General.GFLOPS += node.CPUCores * site.GFLOPSPerCPUCore
	}
	for _, d := range Dimensions {
		var list []Bucket
		for _, b := range groups[d] {
			list = append(list, *b)
		}
		sort.Slice(list, func(i, j int) bool {
			if list[i].GFLOPS != list[j].GFLOPS {
				return list[i].GFLOPS > list[j].GFLOPS
			}
			return list[i].Key < list[j].Key
		})
		r.Breakdowns[d] = list
	}
	p := Power(n, alloc)
	r.Power = &p
	for _, rep := range n.Reported {
		dim, key := "operator", rep.Operator
		if rep.Ownership != "" {
			dim, key = "operator-ownership", rep.Operator+", "+string(rep.Ownership)
		}
		b, _ := r.Find(dim, key)
		r.Reported = append(r.Reported, ReportedFigure{Key: key, ReportedGFLOPS: rep.PFLOPS * 1_000_000, SumGFLOPS: b.GFLOPS, Source: rep.Source})
	}
	return r
}

// Find returns the bucket with the key in a dimension.
func (r *Report) Find(dim, key string) (Bucket, bool) {
	for _, b := range r.Breakdowns[dim] {
		if b.Key == key {
			return b, true
		}
	}
	return Bucket{}, false
}

// Filter returns the ledger of the nodes whose site passes keep, e.g. one
// operator's self-built sites.
func Filter(n *network.Network, keep func(*model.Site) bool) *network.Network {
	sub := *n
	sub.Sites, sub.Nodes, sub.Domains = nil, nil, nil
	ok := map[model.SiteID]bool{}
	for _, s := range n.Sites {
		if keep(&s) {
			ok[s.ID] = true
			sub.Sites = append(sub.Sites, s)
		}
	}
	for _, node := range n.Nodes {
		if ok[node.Site] {
			sub.Nodes = append(sub.Nodes, node)
		}
	}
	for _, d := range n.Domains {
		if ok[d.Site] {
			sub.Domains = append(sub.Domains, d)
		}
	}
	return &sub
}

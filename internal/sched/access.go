package sched

import (
	"github.com/suanli/suanli/internal/model"
)

// Cards is the number of cards in the network.
func (c *Cluster) Cards() int { return c.st.cards }

// FreeCards is the free whole cards on healthy nodes.
func (c *Cluster) FreeCards() int {
	t := 0
	for _, f := range c.modFree {
		t += int(f)
	}
	return t
}

// UsedCardsMilli is the share of all cards in use, in thousandths of a card.
func (c *Cluster) UsedCardsMilli() int64 { return c.usedCardsMilli }

// FreeCardsOfModel is the free whole cards of a model on healthy nodes.
func (c *Cluster) FreeCardsOfModel(modelID string) int {
	m, ok := c.st.modelIdx[modelID]
	if !ok {
		return 0
	}
	return int(c.modFree[m])
}

// NodeFree returns a node's free whole cards and whether it is healthy; ok
// is false for an unknown node.
func (c *Cluster) NodeFree(id model.NodeID) (free int, healthy, ok bool) {
	n, ok := c.st.nodeIdx[id]
	if !ok {
		return 0, false, false
	}
	return int(c.free[n]), c.healthy[n], true
}

// CardUsage returns the share (thousandths) and memory (MiB) in use on one
// card; ok is false for an unknown card.
func (c *Cluster) CardUsage(id model.CardID) (shareMilli int, memMiB int64, ok bool) {
	n, ok := c.st.nodeIdx[id.Node]
	if !ok || id.Index < 0 || id.Index >= int(c.st.nodes[n].cards) {
		return 0, 0, false
	}
	g := c.st.nodes[n].cardOff + int32(id.Index)
	return int(c.usedMilli[g]), c.usedMiB[g], true
}

// DomainFree is the free whole cards on a domain's healthy nodes.
func (c *Cluster) DomainFree(id model.DomainID) int {
	t := 0
	for _, d := range c.st.domIdx[id] {
		t += int(c.domFree[d])
	}
	return t
}

// SiteFree is the free whole cards on a site's healthy nodes.
func (c *Cluster) SiteFree(id model.SiteID) int {
	s, ok := c.st.siteIdx[id]
	if !ok {
		return 0
	}
	t := 0
	for sm := range c.st.sm {
		if c.st.sm[sm].site == s {
			t += int(c.smFree[sm])
		}
	}
	return t
}

// ModelGFLOPS is one card's FP16 throughput in GFLOPS (0, false when the
// catalog does not know it or the model is not in the network).
func (c *Cluster) ModelGFLOPS(modelID string) (int64, bool) {
	m, ok := c.st.modelIdx[modelID]
	if !ok {
		return 0, false
	}
	return c.st.models[m].gflops, c.st.models[m].known
}

// AllocatedGFLOPS is the FP16 throughput of the cards and shares in use.
func (c *Cluster) AllocatedGFLOPS() int64 {
	var t int64
	for n := range c.st.nodes {
		ni := &c.st.nodes[n]
		var milli int64
		for k := ni.cardOff; k < ni.cardOff+ni.cards; k++ {
			milli += int64(c.usedMilli[k])
		}
		t += milli * c.st.models[ni.model].gflops / model.MilliCard
	}
	return t
}

// TotalGFLOPS is the FP16 throughput of every card of known throughput.
func (c *Cluster) TotalGFLOPS() int64 {
	var t int64
	for _, m := range c.st.models {
		t += int64(m.cards) * m.gflops
	}
	return t
}

// PlacementGFLOPS is the raw FP16 throughput a placement's cards and shares
// hold (before any mixed-gang penalty).
func (c *Cluster) PlacementGFLOPS(p *model.Placement) int64 {
	var t int64
	for _, a := range p.Assignments {
		n, ok := c.st.nodeIdx[a.Node]
		if !ok {
			continue
		}
		g := c.st.models[c.st.nodes[n].model].gflops
		if a.ShareMilli > 0 {
			t += g * int64(a.ShareMilli) / model.MilliCard
		} else {
			t += g * int64(len(a.Cards))
		}
	}
	return t
}

// StateBytes estimates the memory the allocation state holds (the mutable
// part a Clone copies, plus the static tables).
func (c *Cluster) StateBytes() int64 {
	st := c.st
	b := int64(len(c.healthy)) + 2*int64(len(c.free)) + 2*int64(len(c.usedMilli)) + 8*int64(len(c.usedMiB)) + int64(len(c.partial))
	for m := range c.byFree {
		for _, s := range c.byFree[m] {
			b += 8 * int64(len(s))
		}
		for _, s := range c.shareSet[m] {
			b += 8 * int64(len(s))
		}
	}
	b += 4 * int64(len(c.domHist)+len(c.smHist)+len(c.domFree)+len(c.smFree)+len(c.modFree))
	b += int64(len(st.nodes))*40 + int64(len(st.domains))*48 + int64(len(st.sites))*32
	b += int64(len(st.nodeIdx)) * 48 // map entries with their keys
	return b
}

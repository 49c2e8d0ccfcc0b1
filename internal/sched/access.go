package sched

import "github.com/suanli/suanli/internal/model"

// Cards is the number of cards in the network.
func (c *Cluster) Cards() int { return c.st.cards }

// UsedCardsMilli is the share of all cards in use, in thousandths of a card.
func (c *Cluster) UsedCardsMilli() int64 { return c.usedCardsMilli }

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
	b := int64(len(c.healthy)) + 2*int64(len(c.free)) + 2*int64(len(c.usedMilli)) + 8*int64(len(c.usedMiB)) + int64(len(c.partial)) + 8*int64(len(c.cpuFree)+len(c.memFree))
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

// ModelFreeCards is how many whole cards of a model (catalog id or name) are
// free on healthy nodes.
func (c *Cluster) ModelFreeCards(modelName string) int {
	m, ok := c.st.modelIdx[c.modelID(modelName)]
	if !ok {
		return 0
	}
	return int(c.modFree[m])
}

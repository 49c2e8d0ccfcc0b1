package sched

// Read-only views of the cluster that only the tests use, to check the
// scheduler's invariants against its state.

import (
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/network"
)

// FreeCards is the free whole cards on healthy nodes.
func (c *Cluster) FreeCards() int {
	t := 0
	for _, f := range c.modFree {
		t += int(f)
	}
	return t
}

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

// Network is the network the cluster allocates.
func (c *Cluster) Network() *network.Network { return c.st.net }

// Version counts the changes made to the cluster (Apply, Release,
// SetNodeHealthy); a caller can tell whether capacity may have changed.
func (c *Cluster) Version() uint64 { return c.version }

func (b bitset) has(i int32) bool {
	_, data := b.split()
	return data[i>>6]&(1<<(uint(i)&63)) != 0
}

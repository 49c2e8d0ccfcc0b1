// Package network loads and validates network specs (regions → sites →
// high-bandwidth domains → nodes → cards) and holds the embedded default
// national network.
package network

import (
	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/model"
)

// Network is an expanded, validated network: every site, domain and node,
// and the catalog its models resolve in (with the spec's overrides
// applied). It is immutable once loaded.
type Network struct {
	Name         string
	Note         string
	Illustrative bool // a reconstruction from public facts, with plausible fill-ins
	Catalog      *catalog.Catalog
	Sites        []model.Site
	Domains      []model.Domain
	Nodes        []model.Node
	// Energy holds each site's power, carbon and lease facts (in site
	// order); Links the backbone; Prices the tenants' price table.
	Energy []SiteEnergy
	Links  []Link
	Prices []Price
	// Reported are the operators' own published figures, for comparison.
	Reported []Reported

	siteIdx   map[model.SiteID]int
	energyIdx map[model.SiteID]int
	nodeIdx   map[model.NodeID]int
}

// Site returns the site with the id.
func (n *Network) Site(id model.SiteID) (*model.Site, bool) {
	i, ok := n.siteIdx[id]
	if !ok {
		return nil, false
	}
	return &n.Sites[i], true
}

// SiteEnergy returns the energy facts of a site.
func (n *Network) SiteEnergy(id model.SiteID) (*SiteEnergy, bool) {
	i, ok := n.energyIdx[id]
	if !ok {
		return nil, false
	}
	return &n.Energy[i], true
}

// Node returns the node with the id.
func (n *Network) Node(id model.NodeID) (*model.Node, bool) {
	i, ok := n.nodeIdx[id]
	if !ok {
		return nil, false
	}
	return &n.Nodes[i], true
}

// Model returns the catalog model of a node (always present in a loaded
// network).
func (n *Network) Model(id string) *catalog.Model {
	m, _ := n.Catalog.Lookup(id)
	return m
}

// Cards is the number of accelerator cards in the network.
func (n *Network) Cards() int {
	total := 0
	for i := range n.Nodes {
		total += n.Nodes[i].Cards
	}
	return total
}

// index builds the lookup tables; loaders call it once.
func (n *Network) index() {
	n.siteIdx = make(map[model.SiteID]int, len(n.Sites))
	for i := range n.Sites {
		n.siteIdx[n.Sites[i].ID] = i
	}
	n.energyIdx = make(map[model.SiteID]int, len(n.Energy))
	for i := range n.Energy {
		n.energyIdx[n.Energy[i].Site] = i
	}
	n.nodeIdx = make(map[model.NodeID]int, len(n.Nodes))
	for i := range n.Nodes {
		n.nodeIdx[n.Nodes[i].ID] = i
	}
}

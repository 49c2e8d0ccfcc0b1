package ledger

import (
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/network"
)

// card is what one card of a model on a node brings to an interval: the
// node's site, its ownership, price and grid carbon, and the model's FP16
// throughput and facility power per card.
type card struct {
	site      model.SiteID
	ownership model.Ownership
	fen, gco2 int64
	gflops    int64 // per whole card; known says whether the model is
	known     bool
	facilityW int64
}

// cardOn looks up a card of the named model on the node.
func cardOn(n *network.Network, nodeID model.NodeID, modelName string) card {
	var b card
	var site *model.Site
	if node, ok := n.Node(nodeID); ok {
		b.site = node.Site
		if s, ok := n.Site(node.Site); ok {
			site = s
			b.ownership = s.Ownership
			b.fen = s.PowerFenPerKWh
		}
	}
	en, _ := n.SiteEnergy(b.site)
	if en != nil {
		b.gco2 = en.GCO2PerKWh
	}
	if m := n.Model(modelName); m != nil {
		b.gflops, _, _ = m.FP16GFLOPS()
		b.known = true
		if site != nil {
			b.facilityW, _, _ = CardFacilityW(m, site, en)
		}
	}
	return b
}

// interval is the assignment's interval on this card.
func (b *card) interval(tenant model.TenantID, job model.JobID, a *model.Assignment, start, end int64) Interval {
	iv := Interval{Tenant: tenant, Job: job, Model: a.Model, Start: start, End: end, Site: b.site,
		Ownership: b.ownership, PowerFenPerKWh: b.fen, GCO2PerKWh: b.gco2, FacilityW: b.facilityW}
	iv.MilliCards = int64(len(a.Cards)) * model.MilliCard
	if a.ShareMilli > 0 {
		iv.MilliCards = int64(a.ShareMilli)
	}
	if b.known {
		iv.GFLOPS = b.gflops * iv.MilliCards / model.MilliCard
	}
	return iv
}

// Cards meters placements on one network: it splits a placement held
// over [start, end) into metering intervals, one per assignment, with each
// card's facility power, its site's grid factor and power price (end zero:
// still held). What each (node, model) brings to an interval is looked up
// once (the network does not change).
type Cards struct {
	net *network.Network
	by  map[cardKey]card
}

type cardKey struct {
	node  model.NodeID
	model string
}

// NewCards returns an empty cache of the network's cards.
func NewCards(n *network.Network) *Cards { return &Cards{net: n, by: map[cardKey]card{}} }

// Intervals appends the placement's intervals to out.
func (cs *Cards) Intervals(out []Interval, tenant model.TenantID, p *model.Placement, start, end int64) []Interval {
	for i := range p.Assignments {
		a := &p.Assignments[i]
		k := cardKey{a.Node, a.Model}
		b, ok := cs.by[k]
		if !ok {
			b = cardOn(cs.net, a.Node, a.Model)
			if len(cs.by) < maxCards { // names come from placements: bound what is kept
				cs.by[k] = b
			}
		}
		out = append(out, b.interval(tenant, p.Job, a, start, end))
	}
	return out
}

const maxCards = 1 << 20

// EnergySummary is the energy, carbon and cost of a body of work, and each
// per FP16 PFLOP-hour delivered.
type EnergySummary struct {
	PFLOPHours float64 `json:"pflop_hours"`
	KWh        float64 `json:"kwh"`
	KgCO2      float64 `json:"kg_co2"`
	EnergyCNY  float64 `json:"energy_cny"` // electricity at each site's price
	PricedCNY  float64 `json:"priced_cny"` // at the price table
	// Per FP16 PFLOP-hour delivered.
	KWhPerPFLOPHour   float64 `json:"kwh_per_pflop_hour"`
	KgCO2PerPFLOPHour float64 `json:"kg_co2_per_pflop_hour"`
	CNYPerPFLOPHour   float64 `json:"energy_cny_per_pflop_hour"`
	// UnmeteredCardHours ran on cards with no power figure.
	UnmeteredCardHours float64 `json:"unmetered_card_hours"`
}

// EnergyMeter meters closed intervals of every tenant, whatever their month,
// one at a time as they close, without keeping them: the energy, carbon and
// cost of the work (Summary).
type EnergyMeter struct {
	prices                                  *PriceTable
	gflop, joules, gco2Wh, fenWh, unmetered int64
	priced                                  float64
}

// NewEnergyMeter starts a meter pricing work at prices.
func NewEnergyMeter(prices *PriceTable) *EnergyMeter { return &EnergyMeter{prices: prices} }

// Add meters one closed interval.
func (m *EnergyMeter) Add(iv *Interval) {
	sec := iv.End - iv.Start
	if sec <= 0 || iv.MilliCards <= 0 {
		return
	}
	m.gflop += iv.GFLOPS * sec
	if iv.FacilityW > 0 {
		j := iv.MilliCards * iv.FacilityW / model.MilliCard * sec
		m.joules += j
		m.gco2Wh += j / 3600 * iv.GCO2PerKWh
		m.fenWh += j / 3600 * iv.PowerFenPerKWh
	} else {
		m.unmetered += iv.MilliCards * sec
	}
	r := m.prices.Rate(iv.Site, iv.Model)
	m.priced += float64(iv.MilliCards*sec)/3.6e6*float64(r.FenPerCardHour)/100 + float64(iv.GFLOPS*sec)/3.6e9*float64(r.FenPerPFLOPHour)/100
}

// Summary is the energy, carbon and cost of the intervals added so far.
func (m *EnergyMeter) Summary() EnergySummary {
	s := EnergySummary{
		PFLOPHours:         float64(m.gflop) / 3.6e9,
		KWh:                float64(m.joules) / 3.6e6,
		KgCO2:              float64(m.gco2Wh) / 1e6, // Wh × g/kWh = mg
		EnergyCNY:          float64(m.fenWh) / 1e5,  // Wh × fen/kWh = milli-fen
		PricedCNY:          m.priced,
		UnmeteredCardHours: float64(m.unmetered) / 3.6e6,
	}
	if s.PFLOPHours > 0 {
		s.KWhPerPFLOPHour = s.KWh / s.PFLOPHours
		s.KgCO2PerPFLOPHour = s.KgCO2 / s.PFLOPHours
		s.CNYPerPFLOPHour = s.EnergyCNY / s.PFLOPHours
	}
	return s
}

package ledger

import (
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/network"
)

// PlacementIntervals splits a placement held over [start, end) into
// metering intervals, one per assignment, with each card's facility power,
// its site's grid factor and power price (end zero: still held).
func PlacementIntervals(n *network.Network, tenant model.TenantID, p *model.Placement, start, end int64) []Interval {
	out := make([]Interval, 0, len(p.Assignments))
	for _, a := range p.Assignments {
		iv := Interval{Tenant: tenant, Job: p.Job, Model: a.Model, Start: start, End: end}
		var site *model.Site
		if node, ok := n.Node(a.Node); ok {
			iv.Site = node.Site
			if s, ok := n.Site(node.Site); ok {
				site = s
				iv.Ownership = s.Ownership
				iv.PowerFenPerKWh = s.PowerFenPerKWh
			}
		}
		en, _ := n.SiteEnergy(iv.Site)
		if en != nil {
			iv.GCO2PerKWh = en.GCO2PerKWh
		}
		iv.MilliCards = int64(len(a.Cards)) * model.MilliCard
		if a.ShareMilli > 0 {
			iv.MilliCards = int64(a.ShareMilli)
		}
		if m := n.Model(a.Model); m != nil {
			g, _, _ := m.FP16GFLOPS()
			iv.GFLOPS = g * iv.MilliCards / model.MilliCard
			if site != nil {
				iv.FacilityW, _, _ = CardFacilityW(m, site, en)
			}
		}
		out = append(out, iv)
	}
	return out
}

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

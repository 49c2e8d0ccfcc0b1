package ledger

import (
	"fmt"
	"io"
	"sort"
	"text/tabwriter"

	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/network"
)

// SitePower is the power a site's cards draw, in watts, at full load and as
// allocated. Facility watts are card board power plus the host share, times
// the site's PUE. Cards whose model has no power figure are counted apart
// (UnknownPowerCards) and draw nothing in the sums.
type SitePower struct {
	Site              string `json:"site"`
	Operator          string `json:"operator,omitempty"`
	Cards             int64  `json:"cards"`
	UnknownPowerCards int64  `json:"unknown_power_cards"`
	// BoardW is the cards' board power; FacilityW adds hosts and PUE.
	BoardW    int64 `json:"board_w"`
	FacilityW int64 `json:"facility_w"`
	// DrawnW is the facility power of the allocated share of the cards.
	DrawnW int64 `json:"drawn_w"`
	// FacilityByConfidence splits FacilityW by the confidence of the
	// per-card power figure (a range's upper end counts as derived).
	FacilityByConfidence map[catalog.Confidence]int64 `json:"facility_w_by_confidence"`
	// EnvelopeW is the site's power envelope now (0 when the spec has none).
	EnvelopeW    int64              `json:"envelope_w"`
	EnvelopeConf catalog.Confidence `json:"envelope_conf,omitempty"`
	GCO2PerKWh   int64              `json:"g_co2_per_kwh"`
	// AnnualKWh is a year (8,760 h) at full load; AnnualKgCO2 at the site's
	// grid factor.
	AnnualKWh   int64 `json:"annual_kwh"`
	AnnualKgCO2 int64 `json:"annual_kg_co2"`
}

// PowerReport is the power ledger by site, with the total.
type PowerReport struct {
	Sites []SitePower `json:"sites"`
	Total SitePower   `json:"total"`
}

// CardFacilityW is the facility power of one whole card at a site: board
// power × (1 + host share) × PUE, in watts; ok is false when the model has no
// power figure.
func CardFacilityW(m *catalog.Model, site *model.Site, e *network.SiteEnergy) (w int64, conf catalog.Confidence, ok bool) {
	board, conf, ok := m.PowerW()
	if !ok {
		return 0, catalog.Unknown, false
	}
	host := int64(network.DefaultHostShare * 1000)
	if e != nil {
		host = e.HostShareMilli
	}
	pue := site.PUEMilli
	if pue == 0 {
		pue = 1000
	}
	return board * (1000 + host) * pue / 1_000_000, conf, true
}

// Power computes the power ledger of a network; alloc (nil: none) gives
// the allocated thousandths of a card per node.
func Power(n *network.Network, alloc Allocation) PowerReport {
	bySite := map[model.SiteID]*SitePower{}
	var order []model.SiteID
	for i := range n.Sites {
		s := &n.Sites[i]
		sp := &SitePower{Site: string(s.ID), Operator: s.Operator, FacilityByConfidence: map[catalog.Confidence]int64{}}
		if e, ok := n.SiteEnergy(s.ID); ok {
			sp.EnvelopeW = int64(e.EnvelopeMW * 1e6)
			sp.EnvelopeConf = e.EnvelopeConf
			sp.GCO2PerKWh = e.GCO2PerKWh
		}
		bySite[s.ID] = sp
		order = append(order, s.ID)
	}
	for i := range n.Nodes {
		node := &n.Nodes[i]
		sp := bySite[node.Site]
		site, _ := n.Site(node.Site)
		e, _ := n.SiteEnergy(node.Site)
		m := n.Model(node.Model)
		cards := int64(node.Cards)
		sp.Cards += cards
		w, conf, ok := CardFacilityW(m, site, e)
		if !ok {
			sp.UnknownPowerCards += cards
			continue
		}
		board, _, _ := m.PowerW()
		sp.BoardW += board * cards
		sp.FacilityW += w * cards
		sp.FacilityByConfidence[conf] += w * cards
		if alloc != nil {
			sp.DrawnW += w * alloc(node.ID) / model.MilliCard
		}
	}
	r := PowerReport{Total: SitePower{Site: "total", FacilityByConfidence: map[catalog.Confidence]int64{}}}
	for _, id := range order {
		sp := bySite[id]
		sp.AnnualKWh = sp.FacilityW * 8760 / 1000
		sp.AnnualKgCO2 = sp.AnnualKWh * sp.GCO2PerKWh / 1000
		r.Sites = append(r.Sites, *sp)
		t := &r.Total
		t.Cards += sp.Cards
		t.UnknownPowerCards += sp.UnknownPowerCards
		t.BoardW += sp.BoardW
		t.FacilityW += sp.FacilityW
		t.DrawnW += sp.DrawnW
		t.EnvelopeW += sp.EnvelopeW
		t.AnnualKWh += sp.AnnualKWh
		t.AnnualKgCO2 += sp.AnnualKgCO2
		for c, w := range sp.FacilityByConfidence {
			t.FacilityByConfidence[c] += w
		}
	}
	if r.Total.AnnualKWh > 0 {
		r.Total.GCO2PerKWh = r.Total.AnnualKgCO2 * 1000 / r.Total.AnnualKWh
	}
	sort.SliceStable(r.Sites, func(i, j int) bool { return r.Sites[i].FacilityW > r.Sites[j].FacilityW })
	return r
}

// MW formats watts as megawatts with one decimal.
func MW(w int64) string {
	t := (w + 50_000) / 100_000
	return fmt.Sprintf("%d.%d", t/10, t%10)
}

// WritePowerTable renders the power ledger: installed (full-load) and drawn
// MW per site against the envelope, a year's GWh and kt CO2 at full load.
func WritePowerTable(w io.Writer, p *PowerReport) error {
	fmt.Fprintf(w, "\nPower (facility: cards + hosts × PUE; a year at full load)\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "SITE\tCARDS\tNO POWER FIGURE\tINSTALLED MW\tDRAWN MW\tENVELOPE MW\tGWh/YEAR\tgCO2/kWh\tkt CO2/YEAR\tON ESTIMATES\t")
	row := func(s *SitePower) {
		env := "-"
		if s.EnvelopeW > 0 {
			env = MW(s.EnvelopeW)
			if s.EnvelopeConf != "" && s.EnvelopeConf != catalog.Unknown && s.Site != "total" {
				env += " (" + string(s.EnvelopeConf) + ")"
			}
		}
		var est int64
		for c, v := range s.FacilityByConfidence {
			if c.Estimate() {
				est += v
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t\n", s.Site, thousands(s.Cards), thousands(s.UnknownPowerCards),
			MW(s.FacilityW), MW(s.DrawnW), env, thousands(s.AnnualKWh/1_000_000), s.GCO2PerKWh, thousands(s.AnnualKgCO2/1_000_000), percent(est, s.FacilityW))
	}
	for i := range p.Sites {
		row(&p.Sites[i])
	}
	row(&p.Total)
	return tw.Flush()
}

package network

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"

	"sigs.k8s.io/yaml"

	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/model"
)

//go:embed data/grid-factors.yaml
var gridFactorsYAML []byte

// GridFactors are the published average CO2 factors of electricity by
// regional grid and province, in kgCO2/kWh.
type GridFactors struct {
	Source       string             `json:"source"`
	Conf         catalog.Confidence `json:"conf"`
	Year         int                `json:"year"`
	National     float64            `json:"national"`
	Regions      map[string]float64 `json:"regions"`
	Provinces    map[string]float64 `json:"provinces"`
	ProvinceGrid map[string]string  `json:"province_grid"`
}

// DefaultGridFactors returns the embedded factors (MEE & NBS, 2022).
func DefaultGridFactors() GridFactors {
	var g GridFactors
	if err := yaml.UnmarshalStrict(gridFactorsYAML, &g); err != nil {
		panic(fmt.Sprintf("network: embedded grid factors: %v", err))
	}
	return g
}

// Factor returns the factor of a province: its own when published, else
// its regional grid's, else the national average; basis says which.
func (g GridFactors) Factor(province string) (kg float64, basis string) {
	if f, ok := g.Provinces[province]; ok {
		return f, fmt.Sprintf("%s provincial grid factor %d", province, g.Year)
	}
	if r, ok := g.ProvinceGrid[province]; ok {
		if f, ok := g.Regions[r]; ok {
			return f, fmt.Sprintf("%s regional grid factor %d (%s)", r, g.Year, province)
		}
	}
	return g.National, fmt.Sprintf("national average factor %d (province %q not mapped)", g.Year, province)
}

// Fact is one site figure with its provenance: {v, conf, src, note}, or a
// bare number (an operator override).
type Fact struct {
	V    float64            `json:"v"`
	Conf catalog.Confidence `json:"conf,omitempty"`
	Src  []string           `json:"src,omitempty"`
	Note string             `json:"note,omitempty"`
}

// UnmarshalJSON accepts the {v, conf, src, note} form or a bare number.
func (f *Fact) UnmarshalJSON(b []byte) error {
	var n float64
	if err := json.Unmarshal(b, &n); err == nil {
		*f = Fact{V: n, Conf: catalog.Override}
		return nil
	}
	type plain Fact
	if err := json.Unmarshal(b, (*plain)(f)); err != nil {
		return err
	}
	if f.Conf == "" {
		f.Conf = catalog.Unverified
	}
	return nil
}

// LinkSpec is a backbone link between two sites.
type LinkSpec struct {
	A     string  `json:"a"`
	B     string  `json:"b"`
	Gbps  float64 `json:"gbps"`
	RTTms float64 `json:"rtt_ms"`
	Note  string  `json:"note,omitempty"`
}

// PriceSpec is what one card-hour or one FP16 PFLOP-hour of a model at a
// site costs a tenant, in CNY. An empty site or model matches any; the most
// specific entry wins (site and model, then model, then site).
type PriceSpec struct {
	Site            string  `json:"site,omitempty"`
	Model           string  `json:"model,omitempty"`
	CNYPerCardHour  float64 `json:"cny_per_card_hour,omitempty"`
	CNYPerPFLOPHour float64 `json:"cny_per_pflop_hour,omitempty"`
}

// Price is a checked price entry in fen (0.01 CNY); exactly one of the two
// rates is set. Model is the catalog id.
type Price struct {
	Site            model.SiteID `json:"site,omitempty"`
	Model           string       `json:"model,omitempty"`
	FenPerCardHour  int64        `json:"fen_per_card_hour,omitempty"`
	FenPerPFLOPHour int64        `json:"fen_per_pflop_hour,omitempty"`
}

// Link is a checked backbone link.
type Link struct {
	A, B  model.SiteID
	Gbps  float64
	RTTms float64
}

// DefaultHostShare is the host's power (CPUs, memory, NICs, fans, local
// storage) as a fraction of its cards' board power when a site does not say:
// a modelling choice, not a measurement (an 8×700 W GPU server with a 10.2 kW
// system maximum, NVIDIA's DGX H100 figure, has 0.82 at peak; hosts seldom
// run at peak).
const DefaultHostShare = 0.5

// SiteEnergy is a site's power, carbon and lease facts.
type SiteEnergy struct {
	Site model.SiteID `json:"site"`
	// EnvelopeMW is the facility power available now (MW); zero and
	// EnvelopeConf unknown when the spec does not say.
	EnvelopeMW   float64            `json:"envelope_mw"`
	EnvelopeConf catalog.Confidence `json:"envelope_conf"`
	EnvelopeNote string             `json:"envelope_note,omitempty"`
	// PlannedMW is the envelope planned for later years (year → MW).
	PlannedMW map[int]float64 `json:"planned_mw,omitempty"`
	// GCO2PerKWh is the grid carbon factor in grams of CO2 per kWh.
	GCO2PerKWh   int64              `json:"g_co2_per_kwh"`
	CarbonConf   catalog.Confidence `json:"carbon_conf"`
	CarbonSource string             `json:"carbon_source"`
	// HostShareMilli is the host's power per card as thousandths of the
	// card's board power.
	HostShareMilli int64 `json:"host_share_milli"`
	Racks          int   `json:"racks,omitempty"`
	// LeaseFenPerCardHour is what the operator pays per card-hour of a
	// leased site (0: not leased or not given).
	LeaseFenPerCardHour int64 `json:"lease_fen_per_card_hour,omitempty"`
}

// EnvelopeIn returns the envelope planned for a year: the latest planned
// figure at or before the year, else the envelope now; ok is false when the
// spec gives none.
func (e *SiteEnergy) EnvelopeIn(year int) (mw float64, ok bool) {
	best := -1
	for y := range e.PlannedMW {
		if y <= year && y > best {
			best = y
		}
	}
	if best >= 0 {
		return e.PlannedMW[best], true
	}
	return e.EnvelopeMW, e.EnvelopeConf != catalog.Unknown && e.EnvelopeConf != ""
}

// PlannedYears lists the years with a planned envelope, in order.
func (e *SiteEnergy) PlannedYears() []int {
	ys := make([]int, 0, len(e.PlannedMW))
	for y := range e.PlannedMW {
		ys = append(ys, y)
	}
	sort.Ints(ys)
	return ys
}

func fenOf(cny float64) int64 { return int64(math.Round(cny * 100)) }

func okConf(c catalog.Confidence) bool {
	for _, k := range catalog.Confidences {
		if c == k {
			return true
		}
	}
	return false
}

// energy checks a site's energy fields and fills in the defaults.
func (ss *SiteSpec) energy(path string, grid GridFactors, ownership model.Ownership) (SiteEnergy, []error) {
	var errs []error
	bad := func(field, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", path, field, fmt.Sprintf(format, a...)))
	}
	e := SiteEnergy{Site: model.SiteID(ss.ID), EnvelopeConf: catalog.Unknown, Racks: ss.Racks}
	if f := ss.PowerMW; f != nil {
		if !(f.V > 0 && f.V <= 100_000) {
			bad("power_mw", "%v MW must be between 0 and 100000", f.V)
		}
		if !okConf(f.Conf) {
			bad("power_mw.conf", "%q is not one of %v", f.Conf, catalog.Confidences)
		}
		e.EnvelopeMW, e.EnvelopeConf, e.EnvelopeNote = f.V, f.Conf, f.Note
	}
	if len(ss.PowerByYear) > 0 {
		e.PlannedMW = map[int]float64{}
		for k, v := range ss.PowerByYear {
			y, err := strconv.Atoi(k)
			if err != nil || y < 2000 || y > 2100 {
				bad("power_mw_by_year", "%q is not a year (2000-2100)", k)
				continue
			}
			if !(v > 0 && v <= 100_000) {
				bad(fmt.Sprintf("power_mw_by_year.%s", k), "%v MW must be between 0 and 100000", v)
				continue
			}
			e.PlannedMW[y] = v
		}
	}
	if f := ss.CarbonFactor; f != nil {
		if !(f.V >= 0 && f.V <= 2) {
			bad("carbon_factor", "%v kgCO2/kWh must be between 0 and 2", f.V)
		}
		if !okConf(f.Conf) {
			bad("carbon_factor.conf", "%q is not one of %v", f.Conf, catalog.Confidences)
		}
		e.GCO2PerKWh = int64(math.Round(f.V * 1000))
		e.CarbonConf = f.Conf
		e.CarbonSource = f.Note
		if len(f.Src) > 0 {
			e.CarbonSource = fmt.Sprintf("%s %v", f.Note, f.Src)
		}
		if e.CarbonSource == "" {
			e.CarbonSource = "given by the network spec"
		}
	} else {
		kg, basis := grid.Factor(ss.Province)
		e.GCO2PerKWh = int64(math.Round(kg * 1000))
		e.CarbonConf = grid.Conf
		e.CarbonSource = basis + "; " + grid.Source
	}
	switch {
	case ss.HostShare == 0:
		e.HostShareMilli = int64(DefaultHostShare * 1000)
	case ss.HostShare < 0 || ss.HostShare > 5 || math.IsNaN(ss.HostShare):
		bad("host_share", "%v must be between 0 and 5 (host power ÷ card power)", ss.HostShare)
	default:
		e.HostShareMilli = int64(math.Round(ss.HostShare * 1000))
	}
	if ss.Racks < 0 {
		bad("racks", "%d must not be negative", ss.Racks)
	}
	switch {
	case ss.LeasePrice < 0 || ss.LeasePrice > 10_000 || math.IsNaN(ss.LeasePrice):
		bad("lease_price", "%v CNY per card-hour must be between 0 and 10000", ss.LeasePrice)
	case ss.LeasePrice > 0 && ownership != model.Leased:
		bad("lease_price", "only a leased site has a lease price (ownership is %q)", ownership)
	default:
		e.LeaseFenPerCardHour = fenOf(ss.LeasePrice)
	}
	return e, errs
}

// checkLinks validates the backbone links against the sites.
func checkLinks(links []LinkSpec, sites map[string]int) ([]Link, []error) {
	var errs []error
	var out []Link
	seen := map[[2]string]int{}
	for i, l := range links {
		path := fmt.Sprintf("links[%d]", i)
		ok := true
		for _, end := range []struct{ field, id string }{{"a", l.A}, {"b", l.B}} {
			if _, known := sites[end.id]; !known {
				errs = append(errs, fmt.Errorf("%s.%s: unknown site %q", path, end.field, end.id))
				ok = false
			}
		}
		if l.A == l.B && l.A != "" {
			errs = append(errs, fmt.Errorf("%s: a link joins two different sites (both are %q)", path, l.A))
			ok = false
		}
		if !(l.Gbps > 0 && l.Gbps <= 1e7) {
			errs = append(errs, fmt.Errorf("%s.gbps: %v must be between 0 and 1e7", path, l.Gbps))
			ok = false
		}
		if !(l.RTTms > 0 && l.RTTms <= 10_000) {
			errs = append(errs, fmt.Errorf("%s.rtt_ms: %v must be between 0 and 10000", path, l.RTTms))
			ok = false
		}
		k := [2]string{min(l.A, l.B), max(l.A, l.B)}
		if j, dup := seen[k]; dup {
			errs = append(errs, fmt.Errorf("%s: %s-%s repeats links[%d]", path, l.A, l.B, j))
			ok = false
		}
		seen[k] = i
		if ok {
			out = append(out, Link{A: model.SiteID(l.A), B: model.SiteID(l.B), Gbps: l.Gbps, RTTms: l.RTTms})
		}
	}
	return out, errs
}

// checkPrices validates the price entries against the sites and catalog.
func checkPrices(prices []PriceSpec, sites map[string]int, cat *catalog.Catalog) ([]Price, []error) {
	var errs []error
	var out []Price
	seen := map[[2]string]int{}
	for i, p := range prices {
		path := fmt.Sprintf("prices[%d]", i)
		ok := true
		pr := Price{Site: model.SiteID(p.Site)}
		if p.Site != "" {
			if _, known := sites[p.Site]; !known {
				errs = append(errs, fmt.Errorf("%s.site: unknown site %q", path, p.Site))
				ok = false
			}
		}
		if p.Model != "" {
			m, known := cat.Lookup(p.Model)
			if !known {
				errs = append(errs, fmt.Errorf("%s.model: unknown model %q", path, p.Model))
				ok = false
			} else {
				pr.Model = m.ID
			}
		}
		card, pflop := p.CNYPerCardHour, p.CNYPerPFLOPHour
		switch {
		case math.IsNaN(card) || math.IsNaN(pflop) || card < 0 || pflop < 0 || card > 100_000 || pflop > 100_000:
			errs = append(errs, fmt.Errorf("%s: prices must be between 0 and 100000 CNY", path))
			ok = false
		case (card > 0) == (pflop > 0):
			errs = append(errs, fmt.Errorf("%s: give exactly one of cny_per_card_hour and cny_per_pflop_hour", path))
			ok = false
		}
		pr.FenPerCardHour, pr.FenPerPFLOPHour = fenOf(card), fenOf(pflop)
		k := [2]string{p.Site, pr.Model}
		if j, dup := seen[k]; dup && ok {
			errs = append(errs, fmt.Errorf("%s: site %q model %q is priced twice (prices[%d])", path, p.Site, pr.Model, j))
			ok = false
		}
		seen[k] = i
		if ok {
			out = append(out, pr)
		}
	}
	return out, errs
}

// WithEnvelope returns a copy of the network whose site's power envelope is
// raised by addMW now and in every planned year (a what-if); the original
// is unchanged.
func (n *Network) WithEnvelope(site model.SiteID, addMW float64) (*Network, error) {
	i, ok := n.energyIdx[site]
	if !ok {
		return nil, fmt.Errorf("unknown site %q", site)
	}
	cp := *n
	cp.Energy = append([]SiteEnergy(nil), n.Energy...)
	e := &cp.Energy[i]
	e.EnvelopeMW += addMW
	if e.EnvelopeConf == catalog.Unknown || e.EnvelopeConf == "" {
		e.EnvelopeConf = catalog.Override
	}
	planned := make(map[int]float64, len(e.PlannedMW))
	for y, mw := range e.PlannedMW {
		planned[y] = mw + addMW
	}
	e.PlannedMW = planned
	cp.index()
	return &cp, nil
}

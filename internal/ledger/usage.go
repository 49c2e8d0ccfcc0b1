package ledger

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/network"
)

// Interval is one stretch of time during which a tenant's job held cards
// of one model at one site. Times are Unix seconds; End zero means the job
// still holds them.
type Interval struct {
	Tenant     model.TenantID
	Job        model.JobID
	Site       model.SiteID
	Model      string
	Ownership  model.Ownership
	MilliCards int64 // thousandths of a card held (a whole card is 1000)
	GFLOPS     int64 // FP16 throughput held
	Start, End int64
	// FacilityW is the facility power of one whole card held (board power
	// plus the host share, times the site's PUE; see CardFacilityW), zero
	// when the model has no power figure. GCO2PerKWh is the site's grid
	// carbon factor and PowerFenPerKWh its electricity price.
	FacilityW      int64
	GCO2PerKWh     int64
	PowerFenPerKWh int64
}

// Price is what one card-hour, or one FP16 PFLOP-hour, of a model at a
// site costs, in fen (0.01 CNY); one of the two rates is set. An empty Site
// or Model matches any; the most specific entry wins (site and model, then
// model, then site).
type Price struct {
	Site            model.SiteID `json:"site,omitempty"`
	Model           string       `json:"model,omitempty"`
	FenPerCardHour  int64        `json:"fen_per_card_hour"`
	FenPerPFLOPHour int64        `json:"fen_per_pflop_hour,omitempty"`
}

// Rate is a looked-up price: per card-hour or per PFLOP-hour (at most one
// is non-zero).
type Rate struct {
	FenPerCardHour  int64
	FenPerPFLOPHour int64
}

// PriceTable looks prices up by site and model.
type PriceTable struct {
	exact map[[2]string]Rate // {site, model} → rate, with "" for any
}

// NetworkPrices builds the price table of a network spec: its prices, and
// each leased site with a lease price billed at that price per card-hour
// unless the spec prices the site itself.
func NetworkPrices(n *network.Network) (*PriceTable, error) {
	var ps []Price
	for _, p := range n.Prices {
		ps = append(ps, Price{Site: p.Site, Model: p.Model, FenPerCardHour: p.FenPerCardHour, FenPerPFLOPHour: p.FenPerPFLOPHour})
	}
	return PricesWithLeases(ps, n)
}

// PricesWithLeases builds a price table from the entries plus, for each
// leased site of the network with a lease price that no entry prices as a
// site, that lease price per card-hour.
func PricesWithLeases(prices []Price, n *network.Network) (*PriceTable, error) {
	ps := append([]Price(nil), prices...)
	siteLevel := map[model.SiteID]bool{}
	for _, p := range prices {
		if p.Site != "" && p.Model == "" {
			siteLevel[p.Site] = true
		}
	}
	for _, e := range n.Energy {
		if e.LeaseFenPerCardHour > 0 && !siteLevel[e.Site] {
			ps = append(ps, Price{Site: e.Site, FenPerCardHour: e.LeaseFenPerCardHour})
		}
	}
	return NewPriceTable(ps)
}

// NewPriceTable checks the entries (every problem, with its index) and
// indexes them.
func NewPriceTable(prices []Price) (*PriceTable, error) {
	t := &PriceTable{exact: make(map[[2]string]Rate, len(prices))}
	var errs []error
	for i, p := range prices {
		k := [2]string{string(p.Site), p.Model}
		if p.FenPerCardHour < 0 {
			errs = append(errs, fmt.Errorf("prices[%d].fen_per_card_hour: %d must not be negative", i, p.FenPerCardHour))
		}
		if p.FenPerPFLOPHour < 0 {
			errs = append(errs, fmt.Errorf("prices[%d].fen_per_pflop_hour: %d must not be negative", i, p.FenPerPFLOPHour))
		}
		if p.FenPerCardHour > 0 && p.FenPerPFLOPHour > 0 {
			errs = append(errs, fmt.Errorf("prices[%d]: give a price per card-hour or per PFLOP-hour, not both", i))
		}
		if _, dup := t.exact[k]; dup {
			errs = append(errs, fmt.Errorf("prices[%d]: site %q model %q is priced twice", i, p.Site, p.Model))
		}
		t.exact[k] = Rate{FenPerCardHour: p.FenPerCardHour, FenPerPFLOPHour: p.FenPerPFLOPHour}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return t, nil
}

// Lookup returns the price of a card-hour of the model at the site, or 0
// when nothing matches or the match is priced per PFLOP-hour.
func (t *PriceTable) Lookup(site model.SiteID, modelID string) int64 {
	return t.Rate(site, modelID).FenPerCardHour
}

// Rate returns the most specific rate for the model at the site (zero when
// nothing matches).
func (t *PriceTable) Rate(site model.SiteID, modelID string) Rate {
	if t == nil {
		return Rate{}
	}
	for _, k := range [][2]string{{string(site), modelID}, {"", modelID}, {string(site), ""}, {"", ""}} {
		if r, ok := t.exact[k]; ok {
			return r
		}
	}
	return Rate{}
}

// UsageLine is one tenant's use of one model at one site over a period.
// The raw integrals (milli-card-seconds, GFLOP) are exact; the hour figures
// are rounded down to thousandths.
type UsageLine struct {
	Site             model.SiteID
	Model            string
	Ownership        model.Ownership
	MilliCardSeconds int64
	GFLOP            int64 // GFLOPS × seconds
	CardHoursMilli   int64
	PFLOPHoursMilli  int64
	FenPerCardHour   int64
	FenPerPFLOPHour  int64
	CostFen          int64
	// Energy: facility watt-seconds (exact), kWh and kg CO2 in
	// thousandths, and the electricity's cost at the site's price.
	// UnmeteredMilliCardSeconds is use on cards with no power figure.
	JoulesFacility            int64
	KWhMilli                  int64
	KgCO2Milli                int64
	EnergyFen                 int64
	UnmeteredMilliCardSeconds int64
}

// Usage is a tenant's metered use over [From, To).
type Usage struct {
	Tenant          model.TenantID
	Month           string
	From, To        int64
	Lines           []UsageLine // sorted by site, model
	CardHoursMilli  int64       // sums of the lines
	PFLOPHoursMilli int64
	CostFen         int64
	KWhMilli        int64
	KgCO2Milli      int64
	EnergyFen       int64
}

// mulDiv is a×b÷d rounded down, split so that large a does not overflow
// (b and d are small).
func mulDiv(a, b, d int64) int64 { return a/d*b + a%d*b/d }

// MonthRange returns the Unix-second bounds [from, to) of a UTC month
// written YYYY-MM.
func MonthRange(month string) (from, to int64, err error) {
	t, err := time.Parse("2006-01", month)
	if err != nil {
		return 0, 0, fmt.Errorf("month %q: want YYYY-MM, e.g. 2026-11", month)
	}
	return t.Unix(), t.AddDate(0, 1, 0).Unix(), nil
}

// Meter sums a tenant's intervals over a month: card-hours and FP16
// PFLOP-hours by site and model, priced by the table. Intervals of other
// tenants are skipped; open intervals end at now.
func Meter(tenant model.TenantID, month string, intervals []Interval, prices *PriceTable, now int64) (Usage, error) {
	from, to, err := MonthRange(month)
	if err != nil {
		return Usage{}, err
	}
	u := Usage{Tenant: tenant, Month: month, From: from, To: to}
	type key struct {
		site  model.SiteID
		model string
	}
	lines := map[key]*UsageLine{}
	factors := map[key][2]int64{} // gCO2/kWh and fen/kWh of the line's site
	for _, iv := range intervals {
		if iv.Tenant != tenant {
			continue
		}
		end := iv.End
		if end == 0 || end > now {
			end = now
		}
		start, stop := max(iv.Start, from), min(end, to)
		if stop <= start || iv.MilliCards <= 0 {
			continue
		}
		k := key{iv.Site, iv.Model}
		l := lines[k]
		if l == nil {
			l = &UsageLine{Site: iv.Site, Model: iv.Model, Ownership: iv.Ownership}
			lines[k] = l
		}
		sec := stop - start
		l.MilliCardSeconds += iv.MilliCards * sec
		l.GFLOP += iv.GFLOPS * sec
		if iv.FacilityW > 0 {
			l.JoulesFacility += iv.MilliCards * iv.FacilityW / model.MilliCard * sec
		} else {
			l.UnmeteredMilliCardSeconds += iv.MilliCards * sec
		}
		factors[k] = [2]int64{iv.GCO2PerKWh, iv.PowerFenPerKWh}
	}
	for k, l := range lines {
		f := factors[k]
		l.CardHoursMilli = l.MilliCardSeconds / 3600
		l.PFLOPHoursMilli = l.GFLOP / 3_600_000 // GFLOP → PFLOP (1e6) per hour (3600), in thousandths
		r := prices.Rate(l.Site, l.Model)
		l.FenPerCardHour, l.FenPerPFLOPHour = r.FenPerCardHour, r.FenPerPFLOPHour
		// Split the products so a month of a whole site cannot overflow.
		l.CostFen = mulDiv(l.MilliCardSeconds, l.FenPerCardHour, 3_600_000) + mulDiv(l.GFLOP, l.FenPerPFLOPHour, 3_600_000_000)
		l.KWhMilli = l.JoulesFacility / 3600 // W·s → Wh = thousandths of a kWh
		l.KgCO2Milli = mulDiv(l.KWhMilli, f[0], 1000)
		l.EnergyFen = mulDiv(l.KWhMilli, f[1], 1000)
		u.Lines = append(u.Lines, *l)
		u.CardHoursMilli += l.CardHoursMilli
		u.PFLOPHoursMilli += l.PFLOPHoursMilli
		u.CostFen += l.CostFen
		u.KWhMilli += l.KWhMilli
		u.KgCO2Milli += l.KgCO2Milli
		u.EnergyFen += l.EnergyFen
	}
	sort.Slice(u.Lines, func(i, j int) bool {
		a, b := u.Lines[i], u.Lines[j]
		if a.Site != b.Site {
			return a.Site < b.Site
		}
		return a.Model < b.Model
	})
	return u, nil
}

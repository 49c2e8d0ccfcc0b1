package ledger

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/suanli/suanli/internal/model"
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
}

// Price is what one card-hour of a model at a site costs, in fen (0.01
// CNY). An empty Site or Model matches any; the most specific entry wins
// (site and model, then model, then site).
type Price struct {
	Site           model.SiteID `json:"site,omitempty"`
	Model          string       `json:"model,omitempty"`
	FenPerCardHour int64        `json:"fen_per_card_hour"`
}

// PriceTable looks prices up by site and model.
type PriceTable struct {
	exact map[[2]string]int64 // {site, model} → fen, with "" for any
}

// NewPriceTable checks the entries (every problem, with its index) and
// indexes them.
func NewPriceTable(prices []Price) (*PriceTable, error) {
	t := &PriceTable{exact: make(map[[2]string]int64, len(prices))}
	var errs []error
	for i, p := range prices {
		k := [2]string{string(p.Site), p.Model}
		if p.FenPerCardHour < 0 {
			errs = append(errs, fmt.Errorf("prices[%d].fen_per_card_hour: %d must not be negative", i, p.FenPerCardHour))
		}
		if _, dup := t.exact[k]; dup {
			errs = append(errs, fmt.Errorf("prices[%d]: site %q model %q is priced twice", i, p.Site, p.Model))
		}
		t.exact[k] = p.FenPerCardHour
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return t, nil
}

// Lookup returns the price of a card-hour of the model at the site, or 0
// when nothing matches.
func (t *PriceTable) Lookup(site model.SiteID, modelID string) int64 {
	if t == nil {
		return 0
	}
	for _, k := range [][2]string{{string(site), modelID}, {"", modelID}, {string(site), ""}, {"", ""}} {
		if f, ok := t.exact[k]; ok {
			return f
		}
	}
	return 0
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
	CostFen          int64
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
}

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
	}
	for _, l := range lines {
		l.CardHoursMilli = l.MilliCardSeconds / 3600
		l.PFLOPHoursMilli = l.GFLOP / 3_600_000 // GFLOP → PFLOP (1e6) per hour (3600), in thousandths
		l.FenPerCardHour = prices.Lookup(l.Site, l.Model)
		// Split the product so a month of a whole site cannot overflow.
		l.CostFen = l.MilliCardSeconds/3_600_000*l.FenPerCardHour + l.MilliCardSeconds%3_600_000*l.FenPerCardHour/3_600_000
		u.Lines = append(u.Lines, *l)
		u.CardHoursMilli += l.CardHoursMilli
		u.PFLOPHoursMilli += l.PFLOPHoursMilli
		u.CostFen += l.CostFen
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

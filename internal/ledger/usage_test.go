package ledger

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/network"
)

func TestMonthRange(t *testing.T) {
	from, to, err := MonthRange("2026-11")
	if err != nil {
		t.Fatal(err)
	}
	if from != 1793491200 || to-from != 30*86400 {
		t.Errorf("2026-11 = [%d, %d), want [1793491200, +30 days)", from, to)
	}
	for _, bad := range []string{"", "2026-13", "2026/11", "26-11", "2026-11-01"} {
		if _, _, err := MonthRange(bad); err == nil {
			t.Errorf("MonthRange(%q) accepted", bad)
		}
	}
}

func TestEnergyMeter(t *testing.T) {
	from, to, _ := MonthRange("2026-11")
	prices, err := NewPriceTable([]Price{
		{Site: "wuhu", Model: "ascend-910c", FenPerCardHour: 1200},
		{Model: "ascend-910c", FenPerCardHour: 1500},
		{Site: "qingyang", FenPerCardHour: 800},
	})
	if err != nil {
		t.Fatal(err)
	}
	ivs := []Interval{
		// 8 cards for 10 h inside the month at wuhu.
		{Tenant: "a", Site: "wuhu", Model: "ascend-910c", Ownership: model.SelfBuilt, MilliCards: 8000, GFLOPS: 8 * 781_000, Start: from + 3600, End: from + 11*3600},
		// Half a card straddling the month start: only 2 h count.
		{Tenant: "a", Site: "qingyang", Model: "mlu590", Ownership: model.Leased, MilliCards: 500, GFLOPS: 157_000, Start: from - 3600, End: from + 2*3600},
		// Still running at now = to + 1 day: counts to the month end (1 h).
		{Tenant: "a", Site: "shanghai", Model: "ascend-910c", Ownership: model.Leased, MilliCards: 1000, GFLOPS: 781_000, Start: to - 3600},
		// Another tenant: skipped.
		{Tenant: "b", Site: "wuhu", Model: "ascend-910c", MilliCards: 1000, GFLOPS: 1, Start: from, End: to},
		// Outside the month: skipped.
		{Tenant: "a", Site: "wuhu", Model: "ascend-910c", MilliCards: 1000, GFLOPS: 1, Start: to, End: to + 10},
	}
	u, err := Meter("a", "2026-11", ivs, prices, to+86400)
	if err != nil {
		t.Fatal(err)
	}
	want := []UsageLine{
		{Site: "qingyang", Model: "mlu590", Ownership: model.Leased, MilliCardSeconds: 500 * 7200, GFLOP: 157_000 * 7200, CardHoursMilli: 1000, PFLOPHoursMilli: 314, FenPerCardHour: 800, CostFen: 800, UnmeteredMilliCardSeconds: 500 * 7200},
		{Site: "shanghai", Model: "ascend-910c", Ownership: model.Leased, MilliCardSeconds: 1000 * 3600, GFLOP: 781_000 * 3600, CardHoursMilli: 1000, PFLOPHoursMilli: 781, FenPerCardHour: 1500, CostFen: 1500, UnmeteredMilliCardSeconds: 1000 * 3600},
		{Site: "wuhu", Model: "ascend-910c", Ownership: model.SelfBuilt, MilliCardSeconds: 8000 * 36000, GFLOP: 8 * 781_000 * 36000, CardHoursMilli: 80_000, PFLOPHoursMilli: 62_480, FenPerCardHour: 1200, CostFen: 96_000, UnmeteredMilliCardSeconds: 8000 * 36000},
	}
	if len(u.Lines) != len(want) {
		t.Fatalf("lines = %+v, want %+v", u.Lines, want)
	}
	for i := range want {
		if u.Lines[i] != want[i] {
			t.Errorf("line %d = %+v, want %+v", i, u.Lines[i], want[i])
		}
	}
	if u.CardHoursMilli != 82_000 || u.CostFen != 98_300 || u.PFLOPHoursMilli != 63_575 {
		t.Errorf("totals = %d card-mh, %d PFLOP-mh, %d fen", u.CardHoursMilli, u.PFLOPHoursMilli, u.CostFen)
	}
}

// TestMeterSplitInvariant: cutting an interval in two anywhere never
// changes the exact integrals.
func TestMeterSplitInvariant(t *testing.T) {
	from, to, _ := MonthRange("2026-02")
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		start := from - 86400 + r.Int64N(to-from+2*86400)
		end := start + 1 + r.Int64N(40*86400)
		cut := start + r.Int64N(end-start)
		base := Interval{Tenant: "t", Site: "s", Model: "m", MilliCards: 1 + r.Int64N(100_000), GFLOPS: r.Int64N(1e9), FacilityW: r.Int64N(3000), GCO2PerKWh: 600}
		whole, a, b := base, base, base
		whole.Start, whole.End = start, end
		a.Start, a.End = start, cut
		b.Start, b.End = cut, end
		u1, _ := Meter("t", "2026-02", []Interval{whole}, nil, to+1)
		u2, _ := Meter("t", "2026-02", []Interval{a, b}, nil, to+1)
		var s1, s2, g1, g2, j1, j2 int64
		for _, l := range u1.Lines {
			s1, g1, j1 = s1+l.MilliCardSeconds, g1+l.GFLOP, j1+l.JoulesFacility
		}
		for _, l := range u2.Lines {
			s2, g2, j2 = s2+l.MilliCardSeconds, g2+l.GFLOP, j2+l.JoulesFacility
		}
		if s1 != s2 || g1 != g2 || j1 != j2 {
			t.Fatalf("split at %d changed usage: %d/%d vs %d/%d", cut, s1, g1, s2, g2)
		}
	}
}

func TestPriceTableErrors(t *testing.T) {
	_, err := NewPriceTable([]Price{{Model: "x", FenPerCardHour: -1}, {Model: "y"}, {Model: "y"}})
	if err == nil {
		t.Fatal("bad table accepted")
	}
	for _, want := range []string{"prices[0].fen_per_card_hour", "prices[2]"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}

func TestMeterEnergyCarbonAndPFLOPPrices(t *testing.T) {
	from, _, _ := MonthRange("2026-11")
	prices, err := NewPriceTable([]Price{{Site: "x", FenPerPFLOPHour: 1000}, {Site: "y", FenPerCardHour: 900}})
	if err != nil {
		t.Fatal(err)
	}
	ivs := []Interval{
		// 8 cards × 375 W facility for 10 h at 500 g/kWh and 0.30 CNY/kWh.
		{Tenant: "a", Site: "x", Model: "m", MilliCards: 8000, GFLOPS: 8 * 96_000, Start: from, End: from + 36000, FacilityW: 375, GCO2PerKWh: 500, PowerFenPerKWh: 30},
		// Half a card for 1 h at 157 g/kWh: 187 W (rounded down).
		{Tenant: "a", Site: "y", Model: "m", MilliCards: 500, GFLOPS: 48_000, Start: from, End: from + 3600, FacilityW: 375, GCO2PerKWh: 157, PowerFenPerKWh: 25},
	}
	u, err := Meter("a", "2026-11", ivs, prices, from+86400)
	if err != nil {
		t.Fatal(err)
	}
	x, y := u.Lines[0], u.Lines[1]
	if x.KWhMilli != 30_000 || x.KgCO2Milli != 15_000 || x.EnergyFen != 900 || x.PFLOPHoursMilli != 7680 || x.FenPerPFLOPHour != 1000 || x.CostFen != 7680 || x.UnmeteredMilliCardSeconds != 0 {
		t.Errorf("x = %+v", x)
	}
	if y.KWhMilli != 187 || y.KgCO2Milli != 29 || y.EnergyFen != 4 || y.CostFen != 450 {
		t.Errorf("y = %+v", y)
	}
	if u.KWhMilli != 30_187 || u.KgCO2Milli != 15_029 || u.EnergyFen != 904 || u.CostFen != 8130 {
		t.Errorf("totals = %+v", u)
	}
	if _, err := NewPriceTable([]Price{{FenPerCardHour: 1, FenPerPFLOPHour: 1}, {FenPerPFLOPHour: -1, Site: "q"}}); err == nil ||
		!strings.Contains(err.Error(), "prices[0]: give a price per card-hour or per PFLOP-hour") || !strings.Contains(err.Error(), "prices[1].fen_per_pflop_hour") {
		t.Errorf("bad rates: %v", err)
	}
}

func TestNetworkPrices(t *testing.T) {
	spec := `
name: t
sites:
- {id: own, region: R, operator: O, ownership: self-built, pools: [{model: cambricon-mlu370-x8, nodes: 1}]}
- {id: lease1, region: R, operator: O, ownership: leased, lease_price: 4.5, pools: [{model: cambricon-mlu370-x8, nodes: 1}]}
- {id: lease2, region: R, operator: O, ownership: leased, lease_price: 4.5, pools: [{model: cambricon-mlu370-x8, nodes: 1}]}
prices:
- {cny_per_pflop_hour: 10}
- {site: lease2, cny_per_card_hour: 6}
- {site: own, model: MLU370-X8, cny_per_card_hour: 2}
`
	n, err := network.Parse([]byte(spec), "t.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	pt, err := NetworkPrices(n)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		site, model string
		want        Rate
	}{
		{"own", "cambricon-mlu370-x8", Rate{FenPerCardHour: 200}},
		{"own", "other", Rate{FenPerPFLOPHour: 1000}},
		{"lease1", "cambricon-mlu370-x8", Rate{FenPerCardHour: 450}}, // its lease price
		{"lease2", "cambricon-mlu370-x8", Rate{FenPerCardHour: 600}}, // the spec's own price wins
	} {
		if got := pt.Rate(model.SiteID(tt.site), tt.model); got != tt.want {
			t.Errorf("%s/%s = %+v, want %+v", tt.site, tt.model, got, tt.want)
		}
	}
}

func TestEnergyMeterSums(t *testing.T) {
	prices, _ := NewPriceTable([]Price{{Site: "x", FenPerPFLOPHour: 1000}, {Site: "y", FenPerCardHour: 900}})
	ivs := []Interval{
		{Tenant: "a", Site: "x", Model: "m", MilliCards: 8000, GFLOPS: 8 * 96_000, Start: 0, End: 36000, FacilityW: 375, GCO2PerKWh: 500, PowerFenPerKWh: 30},
		{Tenant: "b", Site: "y", Model: "m", MilliCards: 500, GFLOPS: 48_000, Start: 0, End: 3600, FacilityW: 375, GCO2PerKWh: 157, PowerFenPerKWh: 25},
		{Tenant: "b", Site: "y", Model: "n", MilliCards: 1000, GFLOPS: 1000, Start: 0, End: 7200}, // no power figure
	}
	m := NewEnergyMeter(prices)
	for i := range ivs {
		m.Add(&ivs[i])
	}
	s := m.Summary()
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9*math.Max(1, math.Abs(b)) }
	if !near(s.KWh, 30.187) || !near(s.KgCO2, 15.029359) || !near(s.EnergyCNY, 9.04675) || !near(s.PFLOPHours, 7.728+0.002) ||
		!near(s.PricedCNY, 76.8+4.5+18) || !near(s.UnmeteredCardHours, 2) || !near(s.KWhPerPFLOPHour, 30.187/7.73) {
		t.Errorf("summary %+v", s)
	}
}

package network

import (
	"strings"
	"testing"

	"github.com/suanli/suanli/internal/catalog"
)

func TestGridFactors(t *testing.T) {
	g := DefaultGridFactors()
	if g.Conf != catalog.Press || !strings.Contains(g.Source, "MEE") || g.Year != 2022 {
		t.Fatalf("grid factors lack their provenance: %q %q %d", g.Conf, g.Source, g.Year)
	}
	for _, tt := range []struct {
		province string
		kg       float64
		basis    string
	}{
		{"Qinghai", 0.1567, "provincial"},
		{"Inner Mongolia", 0.6849, "provincial"},
		{"Beijing", 0.6776, "north regional"},
		{"Guizhou", 0.3869, "south regional"},
		{"Atlantis", 0.5366, "national"},
	} {
		kg, basis := g.Factor(tt.province)
		if kg != tt.kg || !strings.Contains(basis, tt.basis) {
			t.Errorf("%s: %v (%s), want %v (%s)", tt.province, kg, basis, tt.kg, tt.basis)
		}
	}
	// Every mapped province lands on a published region.
	for p, r := range g.ProvinceGrid {
		if _, ok := g.Regions[r]; !ok {
			t.Errorf("%s maps to unknown grid %q", p, r)
		}
	}
}

func TestDefaultNetworkEnergy(t *testing.T) {
	n, err := Default(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(n.Energy) != len(n.Sites) {
		t.Fatalf("%d energy entries for %d sites", len(n.Energy), len(n.Sites))
	}
	x, _ := n.SiteEnergy("cu-xining")
	if x.GCO2PerKWh != 157 || x.CarbonConf != catalog.Press || !strings.Contains(x.CarbonSource, "Qinghai provincial") {
		t.Errorf("Xining carbon: %+v", x)
	}
	if mw, ok := x.EnvelopeIn(2027); !ok || mw != 100 {
		t.Errorf("Xining envelope 2027 = %v %v, want 100", mw, ok)
	}
	if mw, ok := x.EnvelopeIn(2025); !ok || mw != 25 {
		t.Errorf("Xining envelope 2025 = %v %v, want the 25 MW of now", mw, ok)
	}
	if e, _ := n.SiteEnergy("cm-ulanqab-leased"); e.LeaseFenPerCardHour != 1200 {
		t.Errorf("Ulanqab lease = %d fen, want 1200", e.LeaseFenPerCardHour)
	}
	if len(n.Links) < 10 || len(n.Prices) == 0 {
		t.Errorf("default network: %d links, %d prices", len(n.Links), len(n.Prices))
	}
}

func TestEnergyValidation(t *testing.T) {
	spec := `
name: t
sites:
- id: a
  region: North
  operator: Op
  ownership: self-built
  province: Qinghai
  power_mw: -3
  power_mw_by_year: {"20x7": 10, "2027": -1}
  carbon_factor: {v: 7, conf: gossip}
  host_share: -1
  racks: -2
  lease_price: 5
  pools:
  - {model: cambricon-mlu370-x8, nodes: 2}
- id: b
  region: North
  operator: Op
  ownership: leased
  lease_price: 3.5
  carbon_factor: 0.2
  pools:
  - {model: cambricon-mlu370-x8, nodes: 2}
links:
- {a: a, b: zz, gbps: 100, rtt_ms: 3}
- {a: a, b: a, gbps: 100, rtt_ms: 3}
- {a: a, b: b, gbps: 0, rtt_ms: 3}
- {a: a, b: b, gbps: 100, rtt_ms: 3}
- {a: b, b: a, gbps: 100, rtt_ms: 3}
prices:
- {site: nowhere, cny_per_card_hour: 1}
- {model: no-such-card, cny_per_card_hour: 1}
- {model: mlu370, cny_per_card_hour: 1, cny_per_pflop_hour: 2}
- {cny_per_card_hour: -1}
- {site: a, model: MLU370-X8, cny_per_card_hour: 1}
- {site: a, model: cambricon-mlu370-x8, cny_per_pflop_hour: 1}
`
	_, err := Parse([]byte(spec), "t.yaml", nil)
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		"sites[0].power_mw: -3 MW",
		`sites[0].power_mw_by_year: "20x7" is not a year`,
		"sites[0].power_mw_by_year.2027: -1 MW",
		"sites[0].carbon_factor: 7 kgCO2/kWh",
		`sites[0].carbon_factor.conf: "gossip"`,
		"sites[0].host_share: -1",
		"sites[0].racks: -2",
		`sites[0].lease_price: only a leased site`,
		`links[0].b: unknown site "zz"`,
		"links[1]: a link joins two different sites",
		"links[2].gbps: 0",
		"links[4]: b-a repeats links[3]",
		`prices[0].site: unknown site "nowhere"`,
		`prices[1].model: unknown model "no-such-card"`,
		"prices[2]: give exactly one",
		"prices[3]: prices must be between",
		"prices[5]: site \"a\" model \"cambricon-mlu370-x8\" is priced twice (prices[4])",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	// The good parts of the same spec load.
	ok := strings.NewReplacer("power_mw: -3", "power_mw: 30", `"20x7": 10, "2027": -1`, `"2027": 60`,
		"{v: 7, conf: gossip}", "{v: 0.3, conf: observed, src: [meter]}", "host_share: -1", "host_share: 0.3",
		"racks: -2", "racks: 200", "  lease_price: 5\n", "").Replace(spec)
	ok = ok[:strings.Index(ok, "links:")]
	n, err := Parse([]byte(ok), "t.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := n.SiteEnergy("a")
	if a.EnvelopeMW != 30 || a.PlannedMW[2027] != 60 || a.GCO2PerKWh != 300 || a.CarbonConf != catalog.Observed || a.HostShareMilli != 300 || a.Racks != 200 {
		t.Errorf("a: %+v", a)
	}
	b, _ := n.SiteEnergy("b")
	if b.LeaseFenPerCardHour != 350 || b.GCO2PerKWh != 200 || b.CarbonConf != catalog.Override || b.HostShareMilli != 500 || b.EnvelopeConf != catalog.Unknown {
		t.Errorf("b: %+v", b)
	}
	if _, has := b.EnvelopeIn(2030); has {
		t.Error("b has no envelope")
	}
}

package ledger

import (
	"bytes"
	"strings"
	"testing"

	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/network"
)

func TestPowerArithmetic(t *testing.T) {
	spec := `
name: t
sites:
- id: a
  region: R
  operator: Op
  ownership: self-built
  pue: 1.2
  host_share: 0.25
  power_mw: {v: 1, conf: observed}
  carbon_factor: {v: 0.5, conf: observed}
  pools:
  - {model: cambricon-mlu370-x8, nodes: 10, cards_per_node: 8}
  - {model: huawei-ascend-910c, nodes: 1, cards_per_node: 8}
`
	n, err := network.Parse([]byte(spec), "t.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	alloc := func(id model.NodeID) int64 {
		if id == "a-p0-n0" {
			return 4000 // half a node
		}
		return 0
	}
	p := Power(n, alloc)
	s := p.Sites[0]
	// 80 MLU370-X8 at 250 W (vendor-spec) × 1.25 host × 1.2 PUE = 375 W each;
	// the 910C has no power figure in the catalog alone.
	if s.Cards != 88 || s.UnknownPowerCards != 8 || s.BoardW != 80*250 || s.FacilityW != 80*375 || s.DrawnW != 4*375 {
		t.Fatalf("site power %+v", s)
	}
	if s.FacilityByConfidence[catalog.VendorSpec] != 80*375 || s.EnvelopeW != 1_000_000 {
		t.Errorf("site power %+v", s)
	}
	if s.AnnualKWh != 80*375*8760/1000 || s.AnnualKgCO2 != s.AnnualKWh/2 {
		t.Errorf("annual %d kWh %d kg", s.AnnualKWh, s.AnnualKgCO2)
	}
	var b bytes.Buffer
	if err := WritePowerTable(&b, &p); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "1.0 (observed)") {
		t.Errorf("table lacks the envelope:\n%s", b.String())
	}
}

// China Mobile's self-built 29.2 EF with its power: the MW and annual kWh
// rest on the catalog's power figures, the host share and each site's PUE;
// the test pins them so a data change is seen, and checks that the part
// resting on estimates is reported.
func TestDefaultChinaMobileSelfBuiltPower(t *testing.T) {
	n, err := network.Default(nil)
	if err != nil {
		t.Fatal(err)
	}
	cm := Filter(n, func(s *model.Site) bool { return s.Operator == "China Mobile" && s.Ownership == model.SelfBuilt })
	r := Capacity(cm, nil)
	p := r.Power
	if p == nil {
		t.Fatal("no power ledger")
	}
	if p.Total.UnknownPowerCards != 0 {
		t.Errorf("%d China Mobile cards lack a power figure", p.Total.UnknownPowerCards)
	}
	if mw := MW(p.Total.FacilityW); mw != "70.4" {
		t.Errorf("China Mobile self-built draws %s MW at full load, want 70.4", mw)
	}
	if gwh := p.Total.AnnualKWh / 1_000_000; gwh != 617 {
		t.Errorf("China Mobile self-built: %d GWh a year at full load, want 617", gwh)
	}
	var est int64
	for c, w := range p.Total.FacilityByConfidence {
		if c.Estimate() {
			est += w
		}
	}
	if est == 0 || est == p.Total.FacilityW {
		t.Errorf("estimated part %d of %d: want a mix", est, p.Total.FacilityW)
	}
	for _, s := range p.Sites {
		if s.EnvelopeW > 0 && s.FacilityW > s.EnvelopeW {
			t.Errorf("%s draws %s MW over its %s MW envelope", s.Site, MW(s.FacilityW), MW(s.EnvelopeW))
		}
	}
}

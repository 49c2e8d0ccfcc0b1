package plan

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/suanli/suanli/internal/network"
)

func defaultPlan(t testing.TB, cfg Config) (*network.Network, *Result) {
	t.Helper()
	n, err := network.Default(nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Supply == nil {
		s, err := ParseSupply(DefaultSupply(), "default supply", n.Catalog)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Supply = s
	}
	r, err := Solve(n, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return n, r
}

func TestDefaultPlanReachesTarget(t *testing.T) {
	_, r := defaultPlan(t, Config{From: 2025, By: 2028, TargetGFLOPS: 100e9, MinDomestic: 0.9})
	if len(r.Years) != 3 {
		t.Fatalf("years %+v", r.Years)
	}
	last := r.Years[2]
	if last.EF < 100 || last.DomesticShare < 0.9 {
		t.Errorf("2028: %.2f EF, %.1f%% domestic", last.EF, 100*last.DomesticShare)
	}
	for _, y := range r.Years {
		if y.EF < y.TargetEF-1e-9 {
			t.Errorf("%d: %.3f EF under the path's %.3f", y.Year, y.EF, y.TargetEF)
		}
	}
	for _, s := range r.Sites {
		if s.AddedCards > 0 && s.MW > s.EnvelopeMW+1e-9 {
			t.Errorf("%s %d: %.1f MW over its %.1f MW envelope", s.Site, s.Year, s.MW, s.EnvelopeMW)
		}
	}
	if r.GapPercent < 0 || r.GapPercent > 1 || r.Integer < r.LPBound {
		t.Errorf("integer %v vs LP bound %v (gap %v%%)", r.Integer, r.LPBound, r.GapPercent)
	}
	if len(r.Binding) == 0 || r.Binding[0].Constraint != "target" || r.Binding[0].Year != 2028 {
		t.Errorf("binding %+v: the 2028 target must bind most", r.Binding)
	}
}

// A small network where every integer plan can be enumerated: the LP bound
// must not exceed the best integer plan, the planner's integer plan must
// satisfy every limit as computed here from first principles, and its cost
// must be no better than the enumerated optimum.
const smallSpec = `
name: small
sites:
- id: a
  region: R
  operator: O
  ownership: self-built
  province: Qinghai
  pue: 1.2
  power_price: 0.25
  power_mw: {v: 0.02, conf: observed}
  power_mw_by_year: {"2027": 0.03}
  pools: [{model: cambricon-mlu370-x8, nodes: 1}]
- id: b
  region: R
  operator: O
  ownership: self-built
  province: Beijing
  pue: 1.5
  power_price: 0.6
  power_mw: {v: 0.05, conf: observed}
  pools: [{model: nvidia-h20, nodes: 1}]
`

const smallSupply = `
models:
- model: cambricon-mlu370-x8
  price_cny: {v: 50000, conf: override}
  supply: {"2026": {v: 40}, "2027": {v: 40}}
- model: nvidia-h20
  supply: {"2026": {v: 24}, "2027": {v: 24}}
`

func TestPlanAgainstBruteForce(t *testing.T) {
	n, err := network.Parse([]byte(smallSpec), "small.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	const target = 6000.0 // TFLOPS
	for _, tc := range []struct {
		mluPrice float64
		minDom   float64
	}{{50000, 0}, {50000, 0.5}, {200000, 0}, {200000, 0.45}, {200000, 0.6}} {
		minDom := tc.minDom
		sup, err := ParseSupply([]byte(strings.Replace(smallSupply, "v: 50000", fmt.Sprintf("v: %v", tc.mluPrice), 1)), "supply.yaml", n.Catalog)
		if err != nil {
			t.Fatal(err)
		}
		cfg := Config{From: 2025, By: 2027, TargetGFLOPS: 6000 * 1000, MinDomestic: minDom, Utilisation: 0.5, Supply: sup, MaxNodes: 1_000_000, GapTolerance: -1}
		r, err := Solve(n, cfg)
		if err != nil {
			t.Fatalf("%+v: %v", tc, err)
		}
		// First principles. Per server (8 cards): TFLOPS, facility kW,
		// capex CNY; bases.
		type kind struct {
			tf, kwA, kwB, capex float64
			dom                 bool
			maxNodes            int
		}
		mlu := kind{8 * 96, 8 * 250 * 1.5 * 1.2 / 1000, 8 * 250 * 1.5 * 1.5 / 1000, 8 * tc.mluPrice, true, 5}
		h20 := kind{8 * 148, 8 * 400 * 1.5 * 1.2 / 1000, 8 * 400 * 1.5 * 1.5 / 1000, 8 * 110000, false, 3}
		kinds := []kind{mlu, h20}
		baseTF, baseDom := 8*96.0+8*148.0, 8*96.0
		baseKWA, baseKWB := mlu.kwA, h20.kwB
		path := []float64{baseTF * math.Sqrt(target/baseTF), target}
		envA := []float64{20, 30} // kW
		envB := []float64{50, 50}
		price := []float64{0.25, 0.6}
		// x[year][site][kind]
		best := math.Inf(1)
		var x [2][2][2]int
		eval := func() (float64, bool) {
			var cost float64
			tf, dom := baseTF, baseDom
			kwA, kwB := baseKWA, baseKWB
			for y := 0; y < 2; y++ {
				for k := 0; k < 2; k++ {
					if x[y][0][k]+x[y][1][k] > kinds[k].maxNodes {
						return 0, false
					}
				}
				for s := 0; s < 2; s++ {
					for k, kd := range kinds {
						nodes := float64(x[y][s][k])
						tf += nodes * kd.tf
						if kd.dom {
							dom += nodes * kd.tf
						}
						kw := kd.kwA
						if s == 1 {
							kw = kd.kwB
						}
						if s == 0 {
							kwA += nodes * kw
						} else {
							kwB += nodes * kw
						}
						years := float64(2 - y)
						cost += nodes * (kd.capex + kw*8760*0.5*years*price[s])
					}
				}
				if tf < path[y]-1e-9 || dom < minDom*tf-1e-9 || kwA > envA[y]+1e-9 || kwB > envB[y]+1e-9 {
					return 0, false
				}
			}
			return cost / 1e6, true
		}
		var rec func(i int)
		rec = func(i int) {
			if i == 8 {
				if c, ok := eval(); ok && c < best {
					best = c
				}
				return
			}
			y, s, k := i/4, (i/2)%2, i%2
			for v := 0; v <= kinds[k].maxNodes; v++ {
				x[y][s][k] = v
				rec(i + 1)
			}
			x[y][s][k] = 0
		}
		rec(0)
		if math.IsInf(best, 1) {
			t.Fatalf("min domestic %v: brute force found no plan, the planner did", minDom)
		}
		// The planner's integer plan, checked from first principles.
		x = [2][2][2]int{}
		for _, a := range r.Adds {
			s := map[string]int{"a": 0, "b": 1}[a.Site]
			k := map[string]int{"cambricon-mlu370-x8": 0, "nvidia-h20": 1}[a.Model]
			x[a.Year-2026][s][k] = int(a.Nodes)
		}
		got, ok := eval()
		if !ok {
			t.Fatalf("min domestic %v: the planner's plan %+v breaks a limit", minDom, r.Adds)
		}
		// Card power is metered in whole watts (562.5 W → 562): allow it.
		if math.Abs(got-r.Integer) > 1e-4*best {
			t.Errorf("min domestic %v: planner says %v M CNY, first principles %v", minDom, r.Integer, got)
		}
		if r.LPBound > best+1e-6 {
			t.Errorf("min domestic %v: LP bound %v above the integer optimum %v", minDom, r.LPBound, best)
		}
		if got < best-1e-4*best {
			t.Errorf("min domestic %v: plan %v beats the enumerated optimum %v", minDom, got, best)
		}
		// The search finishes on an instance this small: the plan is the
		// optimum and the bound is its cost.
		if !r.Proven || math.Abs(got-best) > 1e-4*best || r.Bound > best+1e-4*best || r.Bound < r.LPBound-1e-9 {
			t.Errorf("%+v: plan %v (proven %v, bound %v), enumerated optimum %v", tc, got, r.Proven, r.Bound, best)
		}
		if want := 100 * (r.Integer - r.Bound) / r.Bound; math.Abs(want-r.GapPercent) > 1e-9 {
			t.Errorf("gap %v, want %v", r.GapPercent, want)
		}
		t.Logf("mlu %.0f CNY, min domestic %.2f: LP %.4f ≤ optimum %.4f ≤ plan %.4f M CNY (gap %.2f%%)", tc.mluPrice, minDom, r.LPBound, best, got, r.GapPercent)
	}
}

func TestPlanErrors(t *testing.T) {
	n, err := network.Parse([]byte(smallSpec), "small.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	sup, _ := ParseSupply([]byte(smallSupply), "supply.yaml", n.Catalog)
	// Beyond what the envelopes allow: refused, not a partial plan.
	if _, err := Solve(n, Config{From: 2025, By: 2027, TargetGFLOPS: 100e9, Supply: sup}); err == nil || !strings.Contains(err.Error(), "no plan meets the target") {
		t.Errorf("impossible target: %v", err)
	}
	if _, err := Solve(n, Config{From: 2027, By: 2026, TargetGFLOPS: 1, MinDomestic: 2, Objective: "fun", Supply: sup}); err == nil ||
		!strings.Contains(err.Error(), "must come after") || !strings.Contains(err.Error(), "domestic share") || !strings.Contains(err.Error(), "objective") {
		t.Errorf("bad config: %v", err)
	}
	for _, bad := range []struct{ yaml, want string }{
		{"models: []", "at least one model"},
		{"models: [{model: nope}]", `unknown model "nope"`},
		{"models: [{model: metax-c500}]", "no price in the catalog"},
		{`models: [{model: nvidia-h20, supply: {"20x6": {v: 1}, "2026": {v: -5}}}]`, `"20x6" is not a year`},
		{`models: [{model: nvidia-h20, price_cny: -1}]`, "price_cny: -1"},
	} {
		_, err := ParseSupply([]byte(bad.yaml), "s.yaml", n.Catalog)
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: err = %v, want %q", bad.yaml, err, bad.want)
		}
	}
}

func TestCarbonObjectivePrefersCleanGrid(t *testing.T) {
	_, cost := defaultPlan(t, Config{From: 2025, By: 2028, TargetGFLOPS: 100e9})
	_, carbon := defaultPlan(t, Config{From: 2025, By: 2028, TargetGFLOPS: 100e9, Objective: MinCarbon})
	if carbon.Years[2].KgCO2 > cost.Years[2].KgCO2 {
		t.Errorf("the carbon plan emits %.0f kg in 2028, the cost plan %.0f", carbon.Years[2].KgCO2, cost.Years[2].KgCO2)
	}
}

func BenchmarkDefaultPlan(b *testing.B) {
	n, err := network.Default(nil)
	if err != nil {
		b.Fatal(err)
	}
	s, _ := ParseSupply(DefaultSupply(), "default supply", n.Catalog)
	for b.Loop() {
		if _, err := Solve(n, Config{From: 2025, By: 2028, TargetGFLOPS: 100e9, MinDomestic: 0.9, Supply: s}); err != nil {
			b.Fatal(err)
		}
	}
}

// A power envelope that holds the plan back is reported with what 10 MW
// more would save.
func TestBindingPowerEnvelope(t *testing.T) {
	n, err := network.Parse([]byte(strings.Replace(smallSpec, `"2027": 0.03`, `"2027": 0.02`, 1)), "small.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	sup, _ := ParseSupply([]byte(smallSupply), "supply.yaml", n.Catalog)
	r, err := Solve(n, Config{From: 2025, By: 2027, TargetGFLOPS: 6000 * 1000, Utilisation: 0.5, Supply: sup})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, b := range r.Binding {
		if strings.HasPrefix(b.Constraint, "power a") && b.Saves > 0 && b.Relax == "+10 MW" {
			found = true
		}
	}
	if !found {
		t.Errorf("site a's envelope does not show as binding: %+v", r.Binding)
	}
}

func TestScenarios(t *testing.T) {
	n, err := network.Parse([]byte(strings.Replace(smallSpec, `"2027": 0.03`, `"2027": 0.02`, 1)), "small.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	sup, _ := ParseSupply([]byte(smallSupply), "supply.yaml", n.Catalog)
	scs, err := ParseScenarios([]byte(`
scenarios:
- name: base
- name: a +1 MW
  envelope_add_mw: {a: 1}
- name: no NVIDIA
  drop_vendors: [nvidia]
- name: half the MLU
  supply_scale: {MLU370-X8: 0.5}
`), "s.yaml", n, sup)
	if err != nil {
		t.Fatal(err)
	}
	rs := Compare(n, Config{From: 2025, By: 2027, TargetGFLOPS: 6000 * 1000, Utilisation: 0.5, Supply: sup}, scs)
	if len(rs) != 4 || rs[0].Result == nil || rs[1].Result == nil {
		t.Fatalf("results %+v", rs)
	}
	// More power at the cheap site: cheaper, and the envelope no longer binds.
	if rs[1].Result.Integer >= rs[0].Result.Integer {
		t.Errorf("a +1 MW costs %v, base %v", rs[1].Result.Integer, rs[0].Result.Integer)
	}
	for _, b := range rs[1].Result.Binding {
		if strings.HasPrefix(b.Constraint, "power a") {
			t.Errorf("a's envelope still binds after +1 MW: %+v", b)
		}
	}
	// Without NVIDIA the MLU alone reaches the target, dearer.
	if r := rs[2].Result; r == nil || r.Integer < rs[0].Result.Integer {
		t.Errorf("no NVIDIA: %+v", rs[2])
	} else {
		for _, a := range r.Adds {
			if a.Model == "nvidia-h20" {
				t.Errorf("no NVIDIA, yet %+v", a)
			}
		}
	}
	if r := rs[3].Result; r != nil {
		for _, a := range r.Adds {
			if a.Model == "cambricon-mlu370-x8" && a.Cards > 20 {
				t.Errorf("half the MLU supply, yet %d cards in %d", a.Cards, a.Year)
			}
		}
	}
	// Too little of everything: no plan, said so.
	none := Compare(n, Config{From: 2025, By: 2027, TargetGFLOPS: 6000 * 1000, Utilisation: 0.5, Supply: sup}, []Scenario{{Name: "scarce", SupplyScale: map[string]float64{"nvidia-h20": 0, "cambricon-mlu370-x8": 0.1}}})
	if none[0].Result != nil || !strings.Contains(none[0].Error, "no plan meets the target") {
		t.Errorf("scarce: %+v", none[0])
	}
	// The original network is untouched by the what-if.
	if e, _ := n.SiteEnergy("a"); e.EnvelopeMW != 0.02 {
		t.Errorf("the scenario changed the network: %+v", e)
	}
	// Bad scenarios name their path.
	_, err = ParseScenarios([]byte(`
scenarios:
- name: x
  drop_models: [nope]
  supply_scale: {nvidia-h20: -1}
  envelope_add_mw: {zz: 5}
  objective: speed
- name: x
`), "s.yaml", n, sup)
	for _, want := range []string{`drop_models[0]: unknown model "nope"`, "supply_scale.nvidia-h20", `unknown site "zz"`, `"speed"`, `scenarios[1].name: "x" repeats`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}

func TestDefaultScenariosParse(t *testing.T) {
	n, err := network.Default(nil)
	if err != nil {
		t.Fatal(err)
	}
	sup, _ := ParseSupply(DefaultSupply(), "supply", n.Catalog)
	scs, err := ParseScenarios(DefaultScenarios(), "scenarios", n, sup)
	if err != nil || len(scs) < 4 {
		t.Fatalf("%v %d", err, len(scs))
	}
}

// A question too large for the dense simplex is refused, not attempted.
func TestPlanTooLarge(t *testing.T) {
	var b strings.Builder
	b.WriteString("name: big\nsites:\n")
	for i := range 400 {
		fmt.Fprintf(&b, "- {id: s%d, region: R, operator: O, ownership: self-built, power_mw: 100, pools: [{model: nvidia-h20, nodes: 1}]}\n", i)
	}
	n, err := network.Parse([]byte(b.String()), "big.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	var sup strings.Builder
	sup.WriteString("models:\n")
	for _, m := range []string{"nvidia-h20", "nvidia-a800", "nvidia-h800"} {
		fmt.Fprintf(&sup, "- model: %s\n  price_cny: 100000\n  supply: {", m)
		for y := 2026; y <= 2045; y++ {
			fmt.Fprintf(&sup, "\"%d\": 1000, ", y)
		}
		sup.WriteString("}\n")
	}
	s, err := ParseSupply([]byte(sup.String()), "s.yaml", n.Catalog)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Solve(n, Config{From: 2025, By: 2045, TargetGFLOPS: 100e9, Supply: s})
	if err == nil || !strings.Contains(err.Error(), "more than this solver handles") {
		t.Errorf("err = %v", err)
	}
}

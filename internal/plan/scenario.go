package plan

import (
	_ "embed"
	"errors"
	"fmt"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/network"
)

//go:embed data/scenarios.yaml
var defaultScenarios []byte

// DefaultScenarios returns the YAML of the embedded what-ifs.
func DefaultScenarios() []byte { return append([]byte(nil), defaultScenarios...) }

// Scenario is a named change to the planning question.
type Scenario struct {
	Name          string             `json:"name"`
	DropModels    []string           `json:"drop_models,omitempty"`
	DropVendors   []string           `json:"drop_vendors,omitempty"`
	SupplyScale   map[string]float64 `json:"supply_scale,omitempty"`
	EnvelopeAddMW map[string]float64 `json:"envelope_add_mw,omitempty"`
	MinDomestic   *float64           `json:"min_domestic,omitempty"`
	Objective     string             `json:"objective,omitempty"`
}

// ScenarioResult is one scenario's plan, or why it has none.
type ScenarioResult struct {
	Name   string  `json:"name"`
	Result *Result `json:"result,omitempty"`
	Error  string  `json:"error,omitempty"`
}

// ParseScenarios reads a scenario file; every problem is reported with its
// path.
func ParseScenarios(data []byte, name string, n *network.Network, sup *Supply) ([]Scenario, error) {
	var f struct {
		Scenarios []Scenario `json:"scenarios"`
	}
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var errs []error
	bad := func(path, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s: %s", name, path, fmt.Sprintf(format, a...)))
	}
	if len(f.Scenarios) == 0 || len(f.Scenarios) > 20 {
		bad("scenarios", "give 1 to 20 scenarios")
	}
	seen := map[string]int{}
	for i, s := range f.Scenarios {
		path := fmt.Sprintf("scenarios[%d]", i)
		if strings.TrimSpace(s.Name) == "" {
			bad(path+".name", "missing")
		} else if j, dup := seen[s.Name]; dup {
			bad(path+".name", "%q repeats scenarios[%d]", s.Name, j)
		}
		seen[s.Name] = i
		for k, id := range s.DropModels {
			if _, ok := n.Catalog.Lookup(id); !ok {
				bad(fmt.Sprintf("%s.drop_models[%d]", path, k), "unknown model %q", id)
			}
		}
		for id, f := range s.SupplyScale {
			if _, ok := n.Catalog.Lookup(id); !ok {
				bad(path+".supply_scale", "unknown model %q", id)
			}
			if !(f >= 0 && f <= 100) {
				bad(path+".supply_scale."+id, "%v must be between 0 and 100", f)
			}
		}
		for site, mw := range s.EnvelopeAddMW {
			if _, ok := n.Site(model.SiteID(site)); !ok {
				bad(path+".envelope_add_mw", "unknown site %q", site)
			}
			if !(mw >= -100_000 && mw <= 100_000) {
				bad(path+".envelope_add_mw."+site, "%v MW out of range", mw)
			}
		}
		if d := s.MinDomestic; d != nil && (*d < 0 || *d > 1) {
			bad(path+".min_domestic", "%v must be between 0 and 1", *d)
		}
		switch s.Objective {
		case "", MinCost, MinCarbon:
		default:
			bad(path+".objective", "%q: want cost or carbon", s.Objective)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return f.Scenarios, nil
}

// Compare solves the base question under each scenario.
func Compare(n *network.Network, cfg Config, scenarios []Scenario) []ScenarioResult {
	var out []ScenarioResult
	for _, s := range scenarios {
		r, err := solveScenario(n, cfg, s)
		sr := ScenarioResult{Name: s.Name, Result: r}
		if err != nil {
			sr.Result, sr.Error = nil, err.Error()
		}
		out = append(out, sr)
	}
	return out
}

func solveScenario(n *network.Network, cfg Config, s Scenario) (*Result, error) {
	c := cfg
	if s.MinDomestic != nil {
		c.MinDomestic = *s.MinDomestic
	}
	if s.Objective != "" {
		c.Objective = s.Objective
	}
	drop := map[string]bool{}
	for _, id := range s.DropModels {
		if m, ok := n.Catalog.Lookup(id); ok {
			drop[m.ID] = true
		}
	}
	scale := map[string]float64{}
	for id, f := range s.SupplyScale {
		if m, ok := n.Catalog.Lookup(id); ok {
			scale[m.ID] = f
		}
	}
	sup := &Supply{}
	for _, o := range cfg.Supply.Offers {
		if drop[o.Model.ID] || vendorIn(o.Model.Vendor, s.DropVendors) {
			continue
		}
		if f, ok := scale[o.Model.ID]; ok {
			cards := make(map[int]float64, len(o.Cards))
			for y, v := range o.Cards {
				cards[y] = v * f
			}
			o.Cards = cards
		}
		sup.Offers = append(sup.Offers, o)
	}
	if len(sup.Offers) == 0 {
		return nil, errors.New("the scenario leaves no model to buy")
	}
	c.Supply = sup
	nn := n
	for site, mw := range s.EnvelopeAddMW {
		var err error
		if nn, err = nn.WithEnvelope(model.SiteID(site), mw); err != nil {
			return nil, err
		}
	}
	return Solve(nn, c)
}

func vendorIn(vendor string, list []string) bool {
	for _, v := range list {
		if strings.EqualFold(vendor, v) || strings.HasPrefix(strings.ToLower(vendor), strings.ToLower(v)+" ") {
			return true
		}
	}
	return false
}

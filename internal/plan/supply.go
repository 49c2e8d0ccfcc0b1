// Package plan computes a capacity build-out: cards of each model at each
// site per year that reach an FP16 target at the least capex plus energy
// opex (or the least CO2), within site power envelopes, vendor supply,
// yearly budgets and a minimum domestic share. The linear program is solved
// by gonum's simplex; whole servers are found by rounding down and
// repairing, with the gap to the LP bound reported.
package plan

import (
	_ "embed"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"

	"sigs.k8s.io/yaml"

	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/network"
)

//go:embed data/supply.yaml
var defaultSupply []byte

// DefaultSupply returns the YAML of the embedded supply file.
func DefaultSupply() []byte { return append([]byte(nil), defaultSupply...) }

type supplyFile struct {
	Models []supplyModel `json:"models"`
}

type supplyModel struct {
	Model    string                  `json:"model"`
	PriceCNY *network.Fact           `json:"price_cny"`
	Supply   map[string]network.Fact `json:"supply"`
}

// Offer is a model the plan may buy: its price per card and the cards
// available per year.
type Offer struct {
	Model     *catalog.Model
	PriceCNY  float64
	PriceConf catalog.Confidence
	PriceNote string
	// Cards available per year (a year absent: none).
	Cards     map[int]float64
	CardsConf map[int]catalog.Confidence
}

// Supply is the checked supply file.
type Supply struct {
	Offers []Offer
}

// ParseSupply reads a supply file against a catalog; every problem is
// reported with its path. A model with no price in the file takes the
// catalog's; one with neither is refused (the planner cannot cost it).
func ParseSupply(data []byte, name string, cat *catalog.Catalog) (*Supply, error) {
	var f supplyFile
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var errs []error
	bad := func(path, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s: %s", name, path, fmt.Sprintf(format, a...)))
	}
	if len(f.Models) == 0 {
		bad("models", "list at least one model the plan may buy")
	}
	s := &Supply{}
	seen := map[string]int{}
	for i, sm := range f.Models {
		path := fmt.Sprintf("models[%d]", i)
		m, ok := cat.Lookup(sm.Model)
		if !ok {
			bad(path+".model", "unknown model %q (see `suanli catalog`)", sm.Model)
			continue
		}
		if j, dup := seen[m.ID]; dup {
			bad(path+".model", "%s repeats models[%d]", m.ID, j)
			continue
		}
		seen[m.ID] = i
		o := Offer{Model: m, Cards: map[int]float64{}, CardsConf: map[int]catalog.Confidence{}}
		if _, _, ok := m.FP16GFLOPS(); !ok {
			bad(path+".model", "%s has no FP16 figure in the catalog", m.ID)
		}
		if _, _, ok := m.PowerW(); !ok {
			bad(path+".model", "%s has no power figure in the catalog; give tdp_w under the network's catalog", m.ID)
		}
		switch p := sm.PriceCNY; {
		case p != nil:
			if !(p.V > 0 && p.V < 1e9) {
				bad(path+".price_cny", "%v must be between 0 and 1e9", p.V)
			}
			o.PriceCNY, o.PriceConf, o.PriceNote = p.V, p.Conf, p.Note
		default:
			v, conf, ok := m.PriceCNY()
			if !ok {
				bad(path+".price_cny", "%s has no price in the catalog: give one here", m.ID)
			}
			o.PriceCNY, o.PriceConf, o.PriceNote = float64(v), conf, m.ListPriceCNY.Note
		}
		for k, v := range sm.Supply {
			y, err := strconv.Atoi(k)
			if err != nil || y < 2000 || y > 2100 {
				bad(path+".supply", "%q is not a year", k)
				continue
			}
			if !(v.V >= 0 && v.V <= 1e8) || math.IsNaN(v.V) {
				bad(fmt.Sprintf("%s.supply.%s", path, k), "%v cards must be between 0 and 1e8", v.V)
				continue
			}
			o.Cards[y], o.CardsConf[y] = v.V, v.Conf
		}
		s.Offers = append(s.Offers, o)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	sort.Slice(s.Offers, func(i, j int) bool { return s.Offers[i].Model.ID < s.Offers[j].Model.ID })
	return s, nil
}

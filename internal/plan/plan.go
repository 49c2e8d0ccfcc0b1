package plan

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/optimize/convex/lp"

	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/ledger"
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/network"
)

// Objectives.
const (
	MinCost   = "cost"   // capex + energy opex over the horizon
	MinCarbon = "carbon" // kg CO2 of the added cards over the horizon
)

// Config is a planning question.
type Config struct {
	// From is the year the network stands at (its end); the plan adds
	// cards in From+1 … By.
	From, By     int
	TargetGFLOPS int64
	// Budget is the capex allowed per year in CNY (a year absent: no
	// limit).
	Budget map[int]float64
	// MinDomestic is the least domestic share of FP16 FLOPS in every
	// planned year (0 … 1).
	MinDomestic float64
	// Utilisation is the average load the energy opex assumes (0 … 1].
	Utilisation float64
	Objective   string
	Supply      *Supply
	// MaxNodes caps the branch-and-bound search (default 200 LP solves);
	// the search also stops once the plan is within GapTolerance of the
	// best bound (a fraction, default 0.001; negative: search to the end).
	MaxNodes     int
	GapTolerance float64
}

// Add is one purchase: servers of a model at a site in a year.
type Add struct {
	Year  int    `json:"year"`
	Site  string `json:"site"`
	Model string `json:"model"`
	Nodes int64  `json:"nodes"`
	Cards int64  `json:"cards"`
}

// Year is the network after a planned year.
type Year struct {
	Year          int     `json:"year"`
	TargetEF      float64 `json:"target_ef"`
	EF            float64 `json:"ef"`
	DomesticShare float64 `json:"domestic_share"`
	CapexCNY      float64 `json:"capex_cny"`
	// OpexCNY and KgCO2 are the year's energy at the assumed utilisation
	// for the whole network (installed and added).
	OpexCNY float64 `json:"opex_cny"`
	KgCO2   float64 `json:"kg_co2"`
	MW      float64 `json:"mw"`
}

// SiteYear is a site's draw against its envelope in a year.
type SiteYear struct {
	Year       int     `json:"year"`
	Site       string  `json:"site"`
	MW         float64 `json:"mw"` // facility MW at full load
	EnvelopeMW float64 `json:"envelope_mw"`
	AddedCards int64   `json:"added_cards"`
}

// Binding is a constraint the LP optimum sits on and what relaxing it by
// one step would save in the objective.
type Binding struct {
	Constraint string  `json:"constraint"`
	Year       int     `json:"year"`
	Relax      string  `json:"relax"`      // the step, e.g. "+10 MW"
	Saves      float64 `json:"saves"`      // objective units (CNY or kg CO2); NaN-free
	Unit       string  `json:"unit"`       // CNY or kg CO2
	Infeasible bool    `json:"infeasible"` // true when the plan needs it (relaxing the other way)
}

// Result is a plan.
type Result struct {
	Objective  string     `json:"objective"`
	Years      []Year     `json:"years"`
	Adds       []Add      `json:"adds"`
	Sites      []SiteYear `json:"sites"`
	LPBound    float64    `json:"lp_bound"`    // the root LP optimum
	Bound      float64    `json:"bound"`       // no integer plan beats it (branch-and-bound's best bound)
	Integer    float64    `json:"integer"`     // the integer plan's objective
	GapPercent float64    `json:"gap_percent"` // (integer - bound) / bound
	Proven     bool       `json:"proven"`      // the search finished: the plan is optimal
	Binding    []Binding  `json:"binding"`
	// Closed lists sites that take no new cards because the spec gives no
	// power envelope for them.
	Closed []string `json:"closed_sites,omitempty"`
	// Notes say what the figures rest on.
	Notes []string `json:"notes"`
}

// variable is one LP column: servers of an offer at a site bought in a year.
type variable struct {
	site     int
	offer    int
	year     int
	nodeEF   float64 // FP16 EF per server
	nodeMW   float64 // facility MW per server at full load
	nodeCapM float64 // capex, million CNY per server
	cost     float64 // objective coefficient
	domestic bool
	cards    int
}

type row struct {
	name  string
	year  int
	coef  map[int]float64
	rhs   float64
	ge    bool   // ≥ (else ≤)
	kind  string // target, power, supply, budget, domestic
	relax float64
	step  string
}

type problem struct {
	cfg    Config
	n      *network.Network
	sites  []model.Site
	vars   []variable
	rows   []row
	years  []int
	base   baseState
	closed []string
}

type baseState struct {
	ef, domEF float64
	siteMW    []float64
	mwTotal   float64
	opexCNY   float64 // a year of the installed network's energy
	kgCO2     float64
}

// Solve computes the plan.
func Solve(n *network.Network, cfg Config) (*Result, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	p, err := build(n, cfg)
	if err != nil {
		return nil, err
	}
	x, obj, err := p.solve(nil)
	if err != nil {
		if errors.Is(err, lp.ErrInfeasible) {
			return nil, fmt.Errorf("no plan meets the target within the limits (power envelopes, supply, budgets, domestic share): %w", err)
		}
		return nil, err
	}
	ints, err := p.round(x)
	if err != nil {
		return nil, err
	}
	maxNodes := cfg.MaxNodes
	if maxNodes == 0 {
		maxNodes = 200
	}
	tol := cfg.GapTolerance
	if tol == 0 {
		tol = 0.001
	}
	ints, incObj, bound, done := p.branchAndBound(x, obj, ints, p.objective(ints), maxNodes, tol)
	r := p.result(ints)
	r.LPBound = obj
	r.Bound = bound
	r.Integer = incObj
	r.Proven = done
	if bound > 0 {
		r.GapPercent = 100 * (r.Integer - bound) / bound
	}
	r.Binding = p.binding(x, obj)
	return r, nil
}

func (c *Config) check() error {
	var errs []error
	if c.By <= c.From {
		errs = append(errs, fmt.Errorf("the target year %d must come after the base year %d", c.By, c.From))
	}
	if c.By-c.From > 20 {
		errs = append(errs, fmt.Errorf("a plan spans at most 20 years (%d-%d asked)", c.From, c.By))
	}
	if c.TargetGFLOPS <= 0 {
		errs = append(errs, errors.New("the target must be positive"))
	}
	if c.MinDomestic < 0 || c.MinDomestic > 1 || math.IsNaN(c.MinDomestic) {
		errs = append(errs, fmt.Errorf("the minimum domestic share %v must be between 0 and 1", c.MinDomestic))
	}
	if c.Utilisation == 0 {
		c.Utilisation = 0.7
	}
	if c.Utilisation < 0 || c.Utilisation > 1 || math.IsNaN(c.Utilisation) {
		errs = append(errs, fmt.Errorf("the utilisation %v must be between 0 and 1", c.Utilisation))
	}
	switch c.Objective {
	case "":
		c.Objective = MinCost
	case MinCost, MinCarbon:
	default:
		errs = append(errs, fmt.Errorf("objective %q: want cost or carbon", c.Objective))
	}
	for y, b := range c.Budget {
		if b < 0 || math.IsNaN(b) {
			errs = append(errs, fmt.Errorf("budget %d: %v CNY must not be negative", y, b))
		}
	}
	if c.Supply == nil || len(c.Supply.Offers) == 0 {
		errs = append(errs, errors.New("a supply file with at least one model is required"))
	}
	return errors.Join(errs...)
}

const hoursPerYear = 8760

// maxCells bounds the dense LP matrix (8 bytes a cell: 160 MB).
const maxCells = 20_000_000

func build(n *network.Network, cfg Config) (*problem, error) {
	p := &problem{cfg: cfg, n: n, sites: n.Sites}
	for y := cfg.From + 1; y <= cfg.By; y++ {
		p.years = append(p.years, y)
	}
	p.installed()
	if err := p.columns(); err != nil {
		return nil, err
	}
	p.constraints()
	// The simplex works on a dense matrix: refuse a question too large for
	// it rather than exhaust memory.
	if cells := len(p.rows) * (len(p.vars) + len(p.rows)); cells > maxCells {
		return nil, fmt.Errorf("the plan has %d columns and %d rows, more than this solver handles (%d cells); plan fewer years, sites or models", len(p.vars), len(p.rows), maxCells)
	}
	return p, nil
}

// installed sums what the network already has: EF, domestic EF, MW per
// site and in all, and the yearly energy cost and carbon.
func (p *problem) installed() {
	n, cfg := p.n, p.cfg
	pw := ledger.Power(n, nil)
	siteIdx := map[model.SiteID]int{}
	for i := range n.Sites {
		siteIdx[n.Sites[i].ID] = i
	}
	p.base.siteMW = make([]float64, len(n.Sites))
	for _, sp := range pw.Sites {
		i := siteIdx[model.SiteID(sp.Site)]
		p.base.siteMW[i] = float64(sp.FacilityW) / 1e6
		p.base.mwTotal += float64(sp.FacilityW) / 1e6
		kwh := float64(sp.FacilityW) / 1000 * hoursPerYear * cfg.Utilisation
		p.base.opexCNY += kwh * float64(n.Sites[i].PowerFenPerKWh) / 100
		p.base.kgCO2 += kwh * float64(sp.GCO2PerKWh) / 1000
	}
	for i := range n.Nodes {
		node := &n.Nodes[i]
		m := n.Model(node.Model)
		g, _, _ := m.FP16GFLOPS()
		ef := float64(g) * float64(node.Cards) / 1e9
		p.base.ef += ef
		if m.Domestic() {
			p.base.domEF += ef
		}
	}
}

// columns makes one variable per site with an envelope × offer × year with
// supply, with its EF, MW, capex and cost over the horizon.
func (p *problem) columns() error {
	n, cfg := p.n, p.cfg
	for si := range n.Sites {
		site := &n.Sites[si]
		e, _ := n.SiteEnergy(site.ID)
		if e == nil || (e.EnvelopeConf == catalog.Unknown && len(e.PlannedMW) == 0) {
			p.closed = append(p.closed, string(site.ID))
			continue
		}
		for oi, o := range cfg.Supply.Offers {
			w, _, _ := ledger.CardFacilityW(o.Model, site, e)
			g, _, _ := o.Model.FP16GFLOPS()
			cps := o.Model.CardsPerServer
			for _, y := range p.years {
				if o.Cards[y] <= 0 {
					continue
				}
				v := variable{site: si, offer: oi, year: y, cards: cps, domestic: o.Model.Domestic(),
					nodeEF:   float64(g) * float64(cps) / 1e9,
					nodeMW:   float64(w) * float64(cps) / 1e6,
					nodeCapM: o.PriceCNY * float64(cps) / 1e6,
				}
				years := float64(cfg.By - y + 1)
				kwh := v.nodeMW * 1000 * hoursPerYear * cfg.Utilisation * years
				if cfg.Objective == MinCarbon {
					// kg CO2, in tonnes for scale; a sliver of capex breaks ties.
					v.cost = kwh*float64(e.GCO2PerKWh)/1e6 + 1e-6*v.nodeCapM
				} else {
					v.cost = v.nodeCapM + kwh*float64(site.PowerFenPerKWh)/100/1e6
				}
				p.vars = append(p.vars, v)
			}
		}
	}
	if len(p.vars) == 0 {
		return errors.New("nothing can be bought: no site has a power envelope, or no model has supply in the plan's years")
	}
	return nil
}

// constraints makes the rows of each year: the target path, the domestic
// share, the budget, each offer's supply and each site's power envelope.
func (p *problem) constraints() {
	n, cfg := p.n, p.cfg
	for k, y := range p.years {
		t := p.targetIn(k + 1)
		r := row{name: "target", year: y, coef: map[int]float64{}, rhs: t - p.base.ef, ge: true, kind: "target", relax: -1, step: "-1 EF"}
		d := row{name: fmt.Sprintf("domestic share ≥ %.0f%%", 100*cfg.MinDomestic), year: y, coef: map[int]float64{}, ge: true, kind: "domestic",
			rhs: cfg.MinDomestic*p.base.ef - p.base.domEF, relax: -0.01 * p.base.ef, step: "-1 point"}
		for j, v := range p.vars {
			if v.year > y {
				continue
			}
			r.coef[j] = v.nodeEF
			if v.domestic {
				d.coef[j] = (1 - cfg.MinDomestic) * v.nodeEF
			} else {
				d.coef[j] = -cfg.MinDomestic * v.nodeEF
			}
		}
		p.rows = append(p.rows, r)
		if cfg.MinDomestic > 0 {
			p.rows = append(p.rows, d)
		}
		if b, ok := cfg.Budget[y]; ok {
			br := row{name: "budget", year: y, coef: map[int]float64{}, rhs: b / 1e6, kind: "budget", relax: 100, step: "+100 M CNY"}
			for j, v := range p.vars {
				if v.year == y {
					br.coef[j] = v.nodeCapM
				}
			}
			p.rows = append(p.rows, br)
		}
		for oi, o := range cfg.Supply.Offers {
			if o.Cards[y] <= 0 {
				continue
			}
			sr := row{name: "supply " + o.Model.ID, year: y, coef: map[int]float64{}, rhs: o.Cards[y], kind: "supply", relax: 1000, step: "+1,000 cards"}
			for j, v := range p.vars {
				if v.year == y && v.offer == oi {
					sr.coef[j] = float64(v.cards)
				}
			}
			p.rows = append(p.rows, sr)
		}
		for si := range n.Sites {
			e, _ := n.SiteEnergy(n.Sites[si].ID)
			env, ok := e.EnvelopeIn(y)
			if !ok {
				continue
			}
			pr := row{name: "power " + string(n.Sites[si].ID), year: y, coef: map[int]float64{}, rhs: math.Max(0, env-p.base.siteMW[si]), kind: "power", relax: 10, step: "+10 MW"}
			for j, v := range p.vars {
				if v.site == si && v.year <= y {
					pr.coef[j] = v.nodeMW
				}
			}
			if len(pr.coef) > 0 {
				p.rows = append(p.rows, pr)
			}
		}
	}
}

// targetIn is the EF the network must reach k years after From: a
// geometric path from the installed EF to the target.
func (p *problem) targetIn(k int) float64 {
	target := float64(p.cfg.TargetGFLOPS) / 1e9
	if p.base.ef >= target || p.base.ef <= 0 {
		return target
	}
	span := float64(p.cfg.By - p.cfg.From)
	return p.base.ef * math.Pow(target/p.base.ef, float64(k)/span)
}

func (p *problem) result(x []float64) *Result {
	r := &Result{Objective: p.cfg.Objective, Closed: p.closed}
	cum := make([]float64, len(p.vars))
	for k, y := range p.years {
		for j, v := range p.vars {
			if v.year == y {
				cum[j] = x[j]
			}
		}
		yr := Year{Year: y, TargetEF: p.targetIn(k + 1), EF: p.base.ef, MW: p.base.mwTotal, OpexCNY: p.base.opexCNY, KgCO2: p.base.kgCO2}
		dom := p.base.domEF
		siteMW := append([]float64(nil), p.base.siteMW...)
		added := make([]int64, len(p.sites))
		for j, v := range p.vars {
			if v.year > y || x[j] == 0 {
				continue
			}
			nodes := x[j]
			yr.EF += nodes * v.nodeEF
			if v.domestic {
				dom += nodes * v.nodeEF
			}
			yr.MW += nodes * v.nodeMW
			siteMW[v.site] += nodes * v.nodeMW
			added[v.site] += int64(nodes) * int64(v.cards)
			e, _ := p.n.SiteEnergy(p.sites[v.site].ID)
			kwh := nodes * v.nodeMW * 1000 * hoursPerYear * p.cfg.Utilisation
			yr.OpexCNY += kwh * float64(p.sites[v.site].PowerFenPerKWh) / 100
			yr.KgCO2 += kwh * float64(e.GCO2PerKWh) / 1000
			if v.year == y {
				yr.CapexCNY += nodes * v.nodeCapM * 1e6
				r.Adds = append(r.Adds, Add{Year: y, Site: string(p.sites[v.site].ID), Model: p.cfg.Supply.Offers[v.offer].Model.ID, Nodes: int64(nodes), Cards: int64(nodes) * int64(v.cards)})
			}
		}
		if yr.EF > 0 {
			yr.DomesticShare = dom / yr.EF
		}
		r.Years = append(r.Years, yr)
		for si := range p.sites {
			e, _ := p.n.SiteEnergy(p.sites[si].ID)
			env, _ := e.EnvelopeIn(y)
			r.Sites = append(r.Sites, SiteYear{Year: y, Site: string(p.sites[si].ID), MW: siteMW[si], EnvelopeMW: env, AddedCards: added[si]})
		}
	}
	_ = cum
	r.Notes = []string{
		fmt.Sprintf("energy opex and CO2 assume %.0f%% average load, facility power (cards, host share, PUE) and each site's power price and grid factor", 100*p.cfg.Utilisation),
		"the target path is geometric from the installed EF to the target; prices, supply and envelopes carry the confidences of the supply file and network spec",
	}
	return r
}

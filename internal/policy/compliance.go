package policy

import (
	"sort"

	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/network"
)

// Report is the compliance report: how much of the network's FP16 capacity
// is domestic, installed and allocated, and which running jobs sit on
// capacity their policy no longer allows. The API and the dashboard serve
// it as JSON; Text renders it for `suanli compliance`.
type Report struct {
	At            int64  `json:"at"` // the now it was computed for
	PolicyVersion int    `json:"policy_version"`
	PolicyName    string `json:"policy_name,omitempty"`
	Revision      uint64 `json:"revision"`

	Installed Share `json:"installed"`
	Allocated Share `json:"allocated"`
	// ByOperator and BySite carry installed and allocated capacity;
	// ByTenantClass only allocated (installed capacity has no tenant).
	ByOperator    []Group `json:"by_operator"`
	BySite        []Group `json:"by_site"`
	ByTenantClass []Group `json:"by_tenant_class"`

	Violations []Violation      `json:"violations"`
	Exempted   []Violation      `json:"exempted"`
	Advisories []AdvisoryImpact `json:"advisories"`
	Warnings   []string         `json:"warnings,omitempty"`
}

// Share is FP16 capacity and its domestic part. Capacity is counted from
// the catalog's per-card figure; cards of a model without an FP16 figure
// are counted apart, as unknown capacity, never given an invented number.
type Share struct {
	CardsMilli         int64 `json:"cards_milli"`
	DomesticCardsMilli int64 `json:"domestic_cards_milli"`
	GFLOPS             int64 `json:"gflops"`
	DomesticGFLOPS     int64 `json:"domestic_gflops"`
	// DomesticPerMille is DomesticGFLOPS / GFLOPS in thousandths, rounded
	// to the nearest (model.PerMille; 0 when GFLOPS is 0).
	DomesticPerMille int64 `json:"domestic_permille"`
	// Cards whose model has no FP16 figure: unknown capacity.
	UnknownCardsMilli         int64 `json:"unknown_cards_milli"`
	UnknownDomesticCardsMilli int64 `json:"unknown_domestic_cards_milli"`
}

// Group is the capacity of one operator, site or tenant class.
type Group struct {
	Key       string `json:"key"`
	Installed *Share `json:"installed,omitempty"`
	Allocated Share  `json:"allocated"`
}

// AdvisoryImpact is what an advisory in force covers now.
type AdvisoryImpact struct {
	ID       string   `json:"id"`
	Action   Action   `json:"action"`
	Severity Severity `json:"severity"`
	Summary  string   `json:"summary"`
	Filed    int64    `json:"filed"`
	// Cards is the installed cards the advisory covers.
	Cards int64 `json:"cards"`
	// RunningJobs is the running jobs of the affected classes on them.
	RunningJobs int `json:"running_jobs"`
}

// acc accumulates a Share; milli-GFLOPS keep fractional cards exact until
// the final division.
type acc struct {
	cards, domCards, unk, unkDom int64
	gMilli, domGMilli            int64
}

func (a *acc) add(milli int64, gflops int64, known, domestic bool) {
	a.cards += milli
	if domestic {
		a.domCards += milli
	}
	if !known {
		a.unk += milli
		if domestic {
			a.unkDom += milli
		}
		return
	}
	a.gMilli += milli * gflops
	if domestic {
		a.domGMilli += milli * gflops
	}
}

func (a *acc) share() Share {
	s := Share{
		CardsMilli: a.cards, DomesticCardsMilli: a.domCards,
		GFLOPS: a.gMilli / model.MilliCard, DomesticGFLOPS: a.domGMilli / model.MilliCard,
		UnknownCardsMilli: a.unk, UnknownDomesticCardsMilli: a.unkDom,
	}
	if a.gMilli > 0 {
		s.DomesticPerMille = model.PerMille(a.domGMilli, a.gMilli)
	}
	return s
}

type groups map[string]*[2]acc // key → installed, allocated

func (g groups) at(key string) *[2]acc {
	if key == "" {
		key = "(unknown)"
	}
	if g[key] == nil {
		g[key] = &[2]acc{}
	}
	return g[key]
}

func (g groups) list(installed bool) []Group {
	keys := make([]string, 0, len(g))
	for k := range g {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]Group, 0, len(keys))
	for _, k := range keys {
		grp := Group{Key: k, Allocated: g[k][1].share()}
		if installed {
			s := g[k][0].share()
			grp.Installed = &s
		}
		out = append(out, grp)
	}
	return out
}

// Compliance computes the report over the network, the running placements
// with their jobs and tenants, the policy and advisories of the snapshot,
// and the exemptions valid at now. It is a pure function of its inputs.
func Compliance(net *network.Network, s *Snapshot, running []Running, ex []Exemption, now int64) *Report {
	x := newIndex(net, s.cat)
	r := &Report{At: now, PolicyVersion: s.policy.Version, PolicyName: s.policy.Name, Revision: s.revision}
	var installed, allocated acc
	byOp, bySite, byClass := groups{}, groups{}, groups{}
	if net != nil {
		for i := range net.Nodes {
			n := &net.Nodes[i]
			c, problem := x.card(n.ID)
			if problem != "" {
				r.Warnings = append(r.Warnings, problem+"; its cards are not counted")
				continue
			}
			g, _, known := c.m.FP16GFLOPS()
			milli := int64(n.Cards) * model.MilliCard
			installed.add(milli, g, known, c.m.Domestic())
			byOp.at(c.site.Operator)[0].add(milli, g, known, c.m.Domestic())
			bySite.at(string(c.site.ID))[0].add(milli, g, known, c.m.Domestic())
		}
	}
	for _, run := range running {
		if run.Job == nil || run.Placement == nil {
			continue
		}
		class := "(unknown)"
		if run.Tenant != nil {
			class = string(run.Tenant.Class)
		}
		for i := range run.Placement.Assignments {
			a := &run.Placement.Assignments[i]
			c, problem := x.card(a.Node)
			if problem != "" {
				continue // audit below warns about it
			}
			g, _, known := c.m.FP16GFLOPS()
			milli := assignmentMilli(a)
			allocated.add(milli, g, known, c.m.Domestic())
			byOp.at(c.site.Operator)[1].add(milli, g, known, c.m.Domestic())
			bySite.at(string(c.site.ID))[1].add(milli, g, known, c.m.Domestic())
			byClass.at(class)[1].add(milli, g, known, c.m.Domestic())
		}
	}
	r.Installed, r.Allocated = installed.share(), allocated.share()
	r.ByOperator, r.BySite, r.ByTenantClass = byOp.list(true), bySite.list(true), byClass.list(false)
	var warn []string
	r.Violations, r.Exempted, warn = s.audit(x, running, ex, now)
	r.Warnings = append(r.Warnings, warn...)
	r.Advisories = s.impacts(net, x, running)
	if r.Violations == nil {
		r.Violations = []Violation{}
	}
	if r.Exempted == nil {
		r.Exempted = []Violation{}
	}
	return r
}

// impacts measures each advisory in force against the network and the
// running work.
func (s *Snapshot) impacts(net *network.Network, x *index, running []Running) []AdvisoryImpact {
	out := []AdvisoryImpact{}
	for i := range s.advisories {
		a := &s.advisories[i]
		if !a.Active() {
			continue
		}
		im := AdvisoryImpact{ID: a.ID, Action: a.Action, Severity: a.Severity, Summary: a.summary(), Filed: a.Filed}
		covered := map[model.NodeID]bool{}
		if net != nil {
			for j := range net.Nodes {
				c, problem := x.card(net.Nodes[j].ID)
				if problem == "" {
					if hit, _ := a.covers(c, false); hit {
						covered[c.node.ID] = true
						im.Cards += int64(c.node.Cards)
					}
				}
			}
		}
		for _, run := range running {
			if run.Job == nil || run.Placement == nil || !a.affectsJob(run.Job) {
				continue
			}
			for _, as := range run.Placement.Assignments {
				if covered[as.Node] {
					im.RunningJobs++
					break
				}
			}
		}
		out = append(out, im)
	}
	return out
}

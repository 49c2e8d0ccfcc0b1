package policy

import (
	"fmt"
	"sort"

	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/network"
)

// Running is one placement in force with its job and the job's tenant.
type Running struct {
	Job       *model.Job       `json:"job"`
	Tenant    *model.Tenant    `json:"tenant,omitempty"`
	Placement *model.Placement `json:"placement"`
}

// Exemption lets a job (or every job of a tenant) stay on capacity a rule
// or advisory no longer allows, until it expires.
type Exemption struct {
	ID     string         `json:"id"`
	Job    model.JobID    `json:"job,omitempty"`
	Tenant model.TenantID `json:"tenant,omitempty"`
	// Rule is the rule or advisory id exempted; empty: any.
	Rule string `json:"rule,omitempty"`
	// Expires is when the exemption ends, seconds on the caller's clock;
	// it holds while now < Expires.
	Expires int64  `json:"expires"`
	Reason  string `json:"reason,omitempty"`
}

func (e *Exemption) covers(job *model.Job, tenant model.TenantID, rule string) bool {
	who := e.Job != "" && e.Job == job.ID || e.Tenant != "" && e.Tenant == tenant
	return who && (e.Rule == "" || e.Rule == rule)
}

// Violation is a running job on capacity its policy no longer allows: a
// rule it breaks, or an evict advisory covering it. The whole job is
// reported (a gang moves whole); Nodes are the offending ones.
type Violation struct {
	Job            model.JobID          `json:"job"`
	Tenant         model.TenantID       `json:"tenant"`
	Classification model.Classification `json:"classification"`
	Rule           string               `json:"rule"`   // the first rule or advisory broken
	Source         string               `json:"source"` // "rule" or "advisory"
	Explanation    string               `json:"explanation"`
	Nodes          []model.NodeID       `json:"nodes"`
	// CardsMilli is the job's cards on offending nodes, in thousandths.
	CardsMilli int64 `json:"cards_milli"`
	// Exemption and ExemptUntil are set on a violation an exemption
	// allows (the compliance report's exempted list).
	Exemption   string `json:"exemption,omitempty"`
	ExemptUntil int64  `json:"exempt_until,omitempty"`
	// Note says, for instance, that an exemption expired.
	Note string `json:"note,omitempty"`
}

// Violations lists the running jobs that must move, sorted by job id: those
// breaking a rule in force or covered by an evict advisory for their class,
// less those a valid exemption covers at now. Drain and watch advisories
// move nothing. The core requeues each whole, at its original queue
// position.
func (s *Snapshot) Violations(net *network.Network, running []Running, ex []Exemption, now int64) []Violation {
	v, _, _ := s.audit(newIndex(net, s.cat), running, ex, now)
	return v
}

// Violations checks against the current snapshot.
func (e *Engine) Violations(net *network.Network, running []Running, ex []Exemption, now int64) []Violation {
	return e.Snapshot().Violations(net, running, ex, now)
}

// index resolves node ids to nodes, sites and models without relying on a
// loader having indexed the network.
type index struct {
	net   *network.Network
	sites map[model.SiteID]*model.Site
	nodes map[model.NodeID]*model.Node
	cat   *catalog.Catalog
}

func newIndex(net *network.Network, fallback *catalog.Catalog) *index {
	x := &index{net: net, sites: map[model.SiteID]*model.Site{}, nodes: map[model.NodeID]*model.Node{}, cat: fallback}
	if net == nil {
		return x
	}
	if net.Catalog != nil {
		x.cat = net.Catalog
	}
	for i := range net.Sites {
		x.sites[net.Sites[i].ID] = &net.Sites[i]
	}
	for i := range net.Nodes {
		x.nodes[net.Nodes[i].ID] = &net.Nodes[i]
	}
	return x
}

// card resolves a node; problem says what is missing.
func (x *index) card(id model.NodeID) (c card, problem string) {
	n, ok := x.nodes[id]
	if !ok {
		return card{}, fmt.Sprintf("node %s is not in the network", id)
	}
	site, ok := x.sites[n.Site]
	if !ok {
		return card{}, fmt.Sprintf("node %s: site %s is not in the network", id, n.Site)
	}
	m, ok := x.cat.Lookup(n.Model)
	if !ok {
		return card{}, fmt.Sprintf("node %s: model %q is not in the catalog", id, n.Model)
	}
	return card{site: site, node: n, m: m}, ""
}

// assignmentMilli is the cards an assignment holds, in thousandths.
func assignmentMilli(a *model.Assignment) int64 {
	if len(a.Cards) == 0 || a.ShareMilli > 0 {
		return int64(a.ShareMilli)
	}
	return int64(len(a.Cards)) * model.MilliCard
}

// audit checks every running job; it returns the violations that stand,
// those exemptions allow, and warnings about placements it could not check.
func (s *Snapshot) audit(x *index, running []Running, ex []Exemption, now int64) (viol, exempt []Violation, warn []string) {
	for _, r := range running {
		if r.Job == nil || r.Placement == nil {
			warn = append(warn, "a running entry lacks its job or placement; skipped")
			continue
		}
		v, w := s.auditJob(x, r, ex, now)
		warn = append(warn, w...)
		switch {
		case v == nil:
		case v.Exemption != "":
			exempt = append(exempt, *v)
		default:
			viol = append(viol, *v)
		}
	}
	sort.Slice(viol, func(i, j int) bool { return viol[i].Job < viol[j].Job })
	sort.Slice(exempt, func(i, j int) bool { return exempt[i].Job < exempt[j].Job })
	return viol, exempt, warn
}

type breach struct {
	verdict Verdict
	nodes   []model.NodeID
}

func (s *Snapshot) auditJob(x *index, r Running, ex []Exemption, now int64) (*Violation, []string) {
	var warn []string
	var breaches []*breach // in order of first sight
	byRule := map[string]*breach{}
	perNode := map[model.NodeID][]Verdict{}
	for i := range r.Placement.Assignments {
		a := &r.Placement.Assignments[i]
		verdicts, seen := perNode[a.Node]
		if !seen {
			c, problem := x.card(a.Node)
			if problem != "" {
				warn = append(warn, fmt.Sprintf("job %s: %s; not checked", r.Job.ID, problem))
			} else {
				verdicts = s.checkAll(r.Job, r.Tenant, c, false)
			}
			perNode[a.Node] = verdicts
		}
		for _, v := range verdicts {
			b := byRule[v.Rule]
			if b == nil {
				b = &breach{verdict: v}
				byRule[v.Rule] = b
				breaches = append(breaches, b)
			}
			if !containsT(b.nodes, a.Node) {
				b.nodes = append(b.nodes, a.Node)
			}
		}
	}
	if len(breaches) == 0 {
		return nil, warn
	}
	var tenant model.TenantID = r.Job.Tenant
	var standing []*breach
	var exemption *Exemption
	var note string
	for _, b := range breaches {
		e := findExemption(ex, r.Job, tenant, b.verdict.Rule, now)
		if e != nil && now < e.Expires {
			if exemption == nil || e.Expires < exemption.Expires {
				exemption = e
			}
			continue
		}
		if e != nil && note == "" {
			note = fmt.Sprintf("exemption %s expired at %d", e.ID, e.Expires)
		}
		standing = append(standing, b)
	}
	v := &Violation{Job: r.Job.ID, Tenant: tenant, Classification: r.Job.Classification, Note: note}
	report := standing
	if len(standing) == 0 {
		report = breaches
		v.Exemption, v.ExemptUntil = exemption.ID, exemption.Expires
	}
	first := report[0].verdict
	v.Rule, v.Explanation = first.Rule, first.Explanation
	v.Source = "rule"
	if first.Reason == ReasonAdvisory {
		v.Source = "advisory"
	}
	offending := map[model.NodeID]bool{}
	for _, b := range report {
		for _, n := range b.nodes {
			offending[n] = true
		}
	}
	for i := range r.Placement.Assignments {
		a := &r.Placement.Assignments[i]
		if offending[a.Node] {
			v.CardsMilli += assignmentMilli(a)
			if !containsT(v.Nodes, a.Node) {
				v.Nodes = append(v.Nodes, a.Node)
			}
		}
	}
	sort.Slice(v.Nodes, func(i, j int) bool { return v.Nodes[i] < v.Nodes[j] })
	return v, warn
}

// findExemption returns the exemption covering the job for rule: a valid
// one if any, else an expired one (so the report can say so), else nil.
func findExemption(ex []Exemption, job *model.Job, tenant model.TenantID, rule string, now int64) *Exemption {
	var expired *Exemption
	for i := range ex {
		e := &ex[i]
		if !e.covers(job, tenant, rule) {
			continue
		}
		if now < e.Expires {
			return e
		}
		if expired == nil {
			expired = e
		}
	}
	return expired
}

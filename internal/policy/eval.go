package policy

import (
	"fmt"
	"iter"
	"strings"

	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/model"
)

// Reason codes a denial carries. They are API: they show in scheduler
// explanations, metrics and golden files.
const (
	ReasonRule            = "policy-rule"             // a rule of the policy in force
	ReasonAdvisory        = "policy-advisory"         // an active drain or evict advisory
	ReasonUnknownCapacity = "policy-unknown-capacity" // site, node or model not given
)

// Verdict is the policy's answer for one job on one card.
type Verdict struct {
	Allowed bool `json:"allowed"`
	// Rule is the id of the rule or advisory that denied ("R3",
	// "ADV-2026-014"); empty when allowed.
	Rule        string `json:"rule,omitempty"`
	Reason      string `json:"reason,omitempty"`
	Explanation string `json:"explanation,omitempty"`
}

var allowed = Verdict{Allowed: true}

// card is one place a job could run: a card of model m on node at site.
type card struct {
	site *model.Site
	node *model.Node
	m    *catalog.Model
}

// check evaluates the rules and, when placing, every drain and evict
// advisory; for a running placement only evict advisories count (drain
// stops new work, it does not move old). It returns the first denial.
func (s *Snapshot) check(job *model.Job, tenant *model.Tenant, c card, placing, explain bool) Verdict {
	if job == nil || c.site == nil || c.node == nil || c.m == nil {
		return Verdict{Rule: ReasonUnknownCapacity, Reason: ReasonUnknownCapacity,
			Explanation: "denied: the policy needs the job, site, node and model to decide"}
	}
	for v := range s.denials(job, tenant, c, placing, explain) {
		return v
	}
	return allowed
}

// checkAll is check returning every denial, for a complete card.
func (s *Snapshot) checkAll(job *model.Job, tenant *model.Tenant, c card, placing bool) []Verdict {
	var out []Verdict
	for v := range s.denials(job, tenant, c, placing, true) {
		out = append(out, v)
	}
	return out
}

// denials yields each rule the card breaks for the job, in document order,
// then each active advisory that keeps the job off the card. Without
// explain the verdicts carry no explanation and nothing is formatted: the
// scheduler's path.
func (s *Snapshot) denials(job *model.Job, tenant *model.Tenant, c card, placing, explain bool) iter.Seq[Verdict] {
	return func(yield func(Verdict) bool) {
		for i := range s.policy.Rules {
			r := &s.policy.Rules[i]
			if !r.Match.matches(job, tenant) {
				continue
			}
			if ok, detail := r.satisfied(c, explain); !ok {
				v := Verdict{Rule: r.ID, Reason: ReasonRule}
				if explain {
					v.Explanation = fmt.Sprintf("denied by rule %s: %s; %s", r.ID, r.Summary(), detail)
				}
				if !yield(v) {
					return
				}
			}
		}
		for i := range s.advisories {
			a := &s.advisories[i]
			if !a.Active() || a.Action == Watch || !placing && a.Action != Evict || !a.affectsJob(job) {
				continue
			}
			if hit, detail := a.covers(c, explain); hit {
				v := Verdict{Rule: a.ID, Reason: ReasonAdvisory}
				if explain {
					v.Explanation = fmt.Sprintf("denied by advisory %s (%s, %s): %s; %s", a.ID, a.Action, a.Severity, a.summary(), detail)
				}
				if !yield(v) {
					return
				}
			}
		}
	}
}

func (m *Match) matches(job *model.Job, tenant *model.Tenant) bool {
	if len(m.Classification) > 0 {
		cl := job.Classification
		if cl == "" {
			cl = model.Public
		}
		if !containsT(m.Classification, cl) {
			return false
		}
	}
	// An unknown tenant matches every tenant class: the rules then hold it
	// to the strictest of them.
	if len(m.TenantClass) > 0 && tenant != nil && !containsT(m.TenantClass, tenant.Class) {
		return false
	}
	return true
}

// satisfied reports whether the card complies with the rule, and (when
// explaining) a detail about the card that explains a denial.
func (r *Rule) satisfied(c card, explain bool) (bool, string) {
	sel := r.Selector()
	if sel == nil {
		return true, ""
	}
	all := sel.holds(c, r.Effect == Deny)
	if ok := all != (r.Effect == Deny); ok || !explain {
		return ok, ""
	}
	results := sel.evaluate(c, r.Effect == Deny)
	if r.Effect == Require {
		for _, res := range results {
			if !res.ok {
				return false, res.detail
			}
		}
		return true, ""
	}
	details := make([]string, 0, len(results))
	for _, res := range results {
		if !res.ok {
			return true, ""
		}
		details = append(details, res.detail)
	}
	return false, strings.Join(details, ", ")
}

// holds reports, formatting nothing, whether every field the selector sets
// holds for the card (evaluate, without the words).
func (sel *Selector) holds(c card, unknownMatches bool) bool {
	m, site := c.m, c.site
	switch {
	case sel.Origin != "" && m.Origin() != sel.Origin,
		len(sel.Vendor) > 0 && !containsT(sel.Vendor, m.Vendor),
		len(sel.Model) > 0 && !containsT(sel.Model, m.ID),
		!versionHolds(c.node, LabelFirmware, sel.firmware, unknownMatches),
		!versionHolds(c.node, LabelDriver, sel.driver, unknownMatches),
		len(sel.Operator) > 0 && !containsFold(sel.Operator, site.Operator),
		len(sel.Province) > 0 && !containsFold(sel.Province, site.Province),
		len(sel.Ownership) > 0 && !containsT(sel.Ownership, site.Ownership):
		return false
	}
	return true
}

// versionHolds reports whether the node's version label is in r (true when
// r is unset); an unknown version holds iff unknownMatches.
func versionHolds(node *model.Node, label string, r Range, unknownMatches bool) bool {
	if r.IsZero() {
		return true
	}
	v, why := nodeVersion(node, label)
	if why != "" {
		return unknownMatches
	}
	return r.contains(&v)
}

type fieldResult struct {
	ok     bool
	detail string
}

// evaluate checks each field the selector sets against the card. An unknown
// firmware or driver version fails a requirement and matches a denial
// (unknownMatches).
func (sel *Selector) evaluate(c card, unknownMatches bool) []fieldResult {
	var out []fieldResult
	add := func(ok bool, format string, a ...any) {
		out = append(out, fieldResult{ok, fmt.Sprintf(format, a...)})
	}
	m, site, node := c.m, c.site, c.node
	if sel.Origin != "" {
		add(m.Origin() == sel.Origin, "%s is %s (%s)", m.ID, m.Origin(), m.Country)
	}
	if len(sel.Vendor) > 0 {
		if containsT(sel.Vendor, m.Vendor) {
			add(true, "vendor %s", m.Vendor)
		} else {
			add(false, "vendor %s is not %s", m.Vendor, strings.Join(sel.Vendor, " or "))
		}
	}
	if len(sel.Model) > 0 {
		if containsT(sel.Model, m.ID) {
			add(true, "model %s", m.ID)
		} else {
			add(false, "model %s is not %s", m.ID, strings.Join(sel.Model, " or "))
		}
	}
	for _, f := range []struct {
		name, label string
		r           Range
	}{{"firmware", LabelFirmware, sel.firmware}, {"driver", LabelDriver, sel.driver}} {
		if f.r.IsZero() {
			continue
		}
		v, why := nodeVersion(node, f.label)
		switch {
		case why != "":
			add(unknownMatches, "node %s %s", node.ID, why)
		case f.r.Contains(v):
			add(true, "node %s %s %s is in %s", node.ID, f.name, v, f.r)
		default:
			add(false, "node %s %s %s is outside %s", node.ID, f.name, v, f.r)
		}
	}
	if len(sel.Operator) > 0 {
		ok := containsFold(sel.Operator, site.Operator)
		add(ok, "site %s is operated by %s%s", site.ID, orUnknown(site.Operator), unless(ok, sel.Operator))
	}
	if len(sel.Province) > 0 {
		ok := containsFold(sel.Province, site.Province)
		add(ok, "site %s is in %s%s", site.ID, orUnknown(site.Province), unless(ok, sel.Province))
	}
	if len(sel.Ownership) > 0 {
		ok := containsT(sel.Ownership, site.Ownership)
		add(ok, "site %s is %s%s", site.ID, orUnknown(string(site.Ownership)), unless(ok, sel.Ownership))
	}
	return out
}

// nodeVersion reads a version label; why says what is wrong when it cannot.
func nodeVersion(node *model.Node, label string) (Version, string) {
	s, ok := node.Labels[label]
	if !ok || strings.TrimSpace(s) == "" {
		return Version{}, "has no " + label + " label (version unknown)"
	}
	v, err := ParseVersion(s)
	if err != nil {
		return Version{}, fmt.Sprintf("label %s is unreadable: %v", label, err)
	}
	return v, ""
}

func unless[T ~string](ok bool, want []T) string {
	if ok {
		return ""
	}
	s := make([]string, len(want))
	for i, w := range want {
		s[i] = string(w)
	}
	return ", not " + strings.Join(s, " or ")
}

func orUnknown(s string) string {
	if s == "" {
		return "(unknown)"
	}
	return s
}

func containsT[T comparable](list []T, v T) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func containsFold(list []string, v string) bool {
	for _, x := range list {
		if strings.EqualFold(strings.TrimSpace(x), strings.TrimSpace(v)) {
			return true
		}
	}
	return false
}

// Summary is the rule's description, or one generated from its fields:
// "sensitive jobs need domestic chips in self-built sites".
func (r *Rule) Summary() string {
	if r.Description != "" {
		return r.Description
	}
	who := r.Match.phrase()
	sel := r.Selector()
	if sel == nil {
		return who + " jobs"
	}
	if r.Effect == Deny {
		return who + " jobs may not run on " + sel.phrase("chips")
	}
	return who + " jobs need " + sel.phrase("chips")
}

func (m *Match) phrase() string {
	who := "all"
	if len(m.Classification) > 0 {
		who = joinT(m.Classification, "/")
	}
	if len(m.TenantClass) > 0 {
		if who == "all" {
			return joinT(m.TenantClass, "/") + " tenants'"
		}
		who += " " + joinT(m.TenantClass, "/") + " tenants'"
	}
	return who
}

// phrase describes the capacity a selector names: "domestic chips in
// self-built sites", "nvidia-h20 cards with firmware <24".
func (sel *Selector) phrase(noun string) string {
	var adj []string
	if sel.Origin != "" {
		adj = append(adj, sel.Origin)
	}
	if len(sel.Vendor) > 0 {
		adj = append(adj, strings.Join(sel.Vendor, "/"))
	}
	if len(sel.Model) > 0 {
		adj = append(adj, strings.Join(sel.Model, "/"))
	}
	var chips string
	if len(adj) > 0 || sel.Firmware != "" || sel.Driver != "" {
		chips = strings.TrimSpace(strings.Join(adj, " ") + " " + noun)
		if sel.Firmware != "" {
			chips += " with firmware " + sel.Firmware
		}
		if sel.Driver != "" {
			chips += " with driver " + sel.Driver
		}
	}
	var sites string
	if len(sel.Ownership) > 0 || len(sel.Operator) > 0 || len(sel.Province) > 0 {
		sites = "sites"
		if len(sel.Ownership) > 0 {
			sites = joinT(sel.Ownership, "/") + " sites"
		}
		if len(sel.Operator) > 0 {
			sites += " of " + strings.Join(sel.Operator, "/")
		}
		if len(sel.Province) > 0 {
			sites += " in " + strings.Join(sel.Province, "/")
		}
	}
	switch {
	case chips != "" && sites != "":
		return chips + " in " + sites
	case chips != "":
		return chips
	case noun == "cards":
		return "cards in " + sites
	}
	return sites
}

// excludedNoun names the cards a rule keeps its jobs off: "foreign cards",
// "leased cards", "nvidia-h20 cards".
func (r *Rule) excludedNoun() string {
	sel := r.Selector()
	if sel == nil {
		return "cards"
	}
	if r.Effect == Deny {
		return sel.phrase("cards")
	}
	var neg []string
	if sel.Origin == Domestic {
		neg = append(neg, "foreign cards")
	} else if sel.Origin == Foreign {
		neg = append(neg, "domestic cards")
	}
	if len(sel.Vendor) > 0 {
		neg = append(neg, "non-"+strings.Join(sel.Vendor, "/")+" cards")
	}
	if len(sel.Model) > 0 {
		neg = append(neg, "cards of other models")
	}
	if sel.Firmware != "" {
		neg = append(neg, "cards with firmware outside "+sel.Firmware)
	}
	if sel.Driver != "" {
		neg = append(neg, "cards with driver outside "+sel.Driver)
	}
	if len(sel.Ownership) == 1 {
		other := model.Leased
		if sel.Ownership[0] == model.Leased {
			other = model.SelfBuilt
		}
		neg = append(neg, string(other)+" cards")
	}
	if len(sel.Operator) > 0 {
		neg = append(neg, "cards of other operators")
	}
	if len(sel.Province) > 0 {
		neg = append(neg, "cards outside "+strings.Join(sel.Province, "/"))
	}
	if len(neg) == 1 {
		return neg[0]
	}
	return "non-compliant cards"
}

func joinT[T ~string](list []T, sep string) string {
	s := make([]string, len(list))
	for i, v := range list {
		s[i] = string(v)
	}
	return strings.Join(s, sep)
}

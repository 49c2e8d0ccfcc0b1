// Package policy holds Suanli's sovereignty and security rules and the chip
// advisories filed against vendors, models and firmware: which capacity a
// job may use (Evaluate, and the scheduler's filter through Engine.For),
// which running placements must move (Violations), and how much of the
// network's FP16 capacity is domestic (Compliance).
//
// It is pure logic: no I/O but the LoadFile convenience, no clock (times are
// inputs), no goroutines.
package policy

import (
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/model"
)

// Effect is what a rule does to the jobs it matches.
type Effect string

// Effects.
const (
	// Require: matched jobs may run only on capacity the rule's require
	// selector describes.
	Require Effect = "require"
	// Deny: matched jobs may not run on capacity the rule's deny selector
	// describes.
	Deny Effect = "deny"
)

// Origins of a chip model (catalog.Model.Origin).
const (
	Domestic = "domestic"
	Foreign  = "foreign"
)

// Policy is one validated policy document. Its zero value allows all.
type Policy struct {
	// Version identifies the document; each replacement must carry a
	// higher one (or the same one with the same content).
	Version     int    `json:"version"`
	Name        string `json:"name,omitempty"`
	Description string `json:"description,omitempty"`
	Rules       []Rule `json:"rules,omitempty"`
}

// Rule is one rule: the jobs it applies to and the capacity it requires or
// denies them.
type Rule struct {
	ID          string    `json:"id"` // "R1", "R2", …
	Description string    `json:"description,omitempty"`
	Match       Match     `json:"match"`
	Effect      Effect    `json:"effect"`
	Require     *Selector `json:"require,omitempty"` // set when Effect is require
	Deny        *Selector `json:"deny,omitempty"`    // set when Effect is deny
}

// Selector returns the rule's capacity selector.
func (r *Rule) Selector() *Selector {
	if r.Effect == Deny {
		return r.Deny
	}
	return r.Require
}

// Match selects jobs. Each field given must hold (and); within a field any
// value may (or). An empty match selects every job. A job without a
// classification is matched as public.
type Match struct {
	Classification []model.Classification `json:"classification,omitempty"`
	TenantClass    []model.TenantClass    `json:"tenant_class,omitempty"`
}

// Selector describes capacity: a card of a model on a node at a site. Each
// field given must hold; within a list any value may. A node whose firmware
// or driver version is unknown (label missing or unreadable) never satisfies
// a required range and always falls in a denied one: unknown software is
// treated as unsafe.
type Selector struct {
	Origin    string            `json:"origin,omitempty"`   // domestic | foreign
	Vendor    []string          `json:"vendor,omitempty"`   // catalog vendor names
	Model     []string          `json:"model,omitempty"`    // catalog model ids
	Firmware  string            `json:"firmware,omitempty"` // version range of LabelFirmware
	Driver    string            `json:"driver,omitempty"`   // version range of LabelDriver
	Operator  []string          `json:"operator,omitempty"` // site operator
	Province  []string          `json:"province,omitempty"` // site province
	Ownership []model.Ownership `json:"ownership,omitempty"`

	firmware, driver Range
}

// defaultCatalog is the embedded catalog, parsed once.
var defaultCatalog = sync.OnceValue(catalog.Default)

// maxDocument bounds a policy document.
const maxDocument = 1 << 20

var ruleID = regexp.MustCompile(`^R[1-9][0-9]{0,5}$`)

// Parse decodes and validates a policy document (YAML or JSON) against the
// catalog its vendor and model names must resolve in (nil: the embedded
// catalog). Every problem is reported, each with its path; unknown fields
// are problems.
func Parse(data []byte, cat *catalog.Catalog) (*Policy, error) {
	if cat == nil {
		cat = defaultCatalog()
	}
	if len(data) > maxDocument {
		return nil, fmt.Errorf("policy document is %d bytes; %d at most", len(data), maxDocument)
	}
	tree, err := decodeTree(data)
	if err != nil {
		return nil, err
	}
	d := &decoder{cat: cat, vendors: vendorAliases(cat)}
	p := d.policy(tree)
	if err := d.err(); err != nil {
		return nil, err
	}
	return p, nil
}

func (d *decoder) policy(tree any) *Policy {
	p := &Policy{}
	top := d.object("", tree, "version", "name", "description", "rules")
	if top == nil {
		return p
	}
	if v, ok := top["version"]; ok {
		p.Version = d.integer("version", v)
		if p.Version < 1 {
			d.bad("version", "%d must be at least 1", p.Version)
		}
	} else {
		d.bad("version", "missing; number each document (1, 2, …) so a replacement can be told from a stale copy")
	}
	p.Name = d.str("name", top["name"])
	p.Description = d.str("description", top["description"])
	list, _ := d.list("rules", top["rules"])
	seen := map[string]int{}
	for i, r := range list {
		path := fmt.Sprintf("rules[%d]", i)
		rule := d.rule(path, r)
		if rule.ID != "" {
			if j, dup := seen[rule.ID]; dup {
				d.bad(path+".id", "%q is already used by rules[%d]", rule.ID, j)
			}
			seen[rule.ID] = i
		}
		p.Rules = append(p.Rules, rule)
	}
	return p
}

func (d *decoder) rule(path string, v any) Rule {
	var r Rule
	o := d.object(path, v, "id", "description", "match", "effect", "require", "deny")
	if o == nil {
		return r
	}
	if _, ok := o["id"]; !ok {
		d.bad(path+".id", "missing; name rules R1, R2, …")
	} else if r.ID = d.str(path+".id", o["id"]); !ruleID.MatchString(r.ID) {
		d.bad(path+".id", "%q is not of the form R1, R2, …", r.ID)
	}
	r.Description = d.str(path+".description", o["description"])
	if m, ok := o["match"]; ok {
		r.Match = d.match(path+".match", m)
	}
	r.Effect = Effect(d.str(path+".effect", o["effect"]))
	switch r.Effect {
	case Require, Deny:
	case "":
		d.bad(path+".effect", "missing; one of require, deny")
	default:
		d.bad(path+".effect", "%q is not one of require, deny", r.Effect)
	}
	for _, key := range []Effect{Require, Deny} {
		sv, ok := o[string(key)]
		switch {
		case !ok && key == r.Effect:
			d.bad(path+"."+string(key), "missing; a %s rule names the capacity under %s", key, key)
		case ok && r.Effect != "" && key != r.Effect:
			d.bad(path+"."+string(key), "given, but the effect is %s; put the conditions under %s", r.Effect, r.Effect)
		case ok:
			sel := d.selector(path+"."+string(key), sv)
			if key == Require {
				r.Require = sel
			} else {
				r.Deny = sel
			}
		}
	}
	return r
}

func (d *decoder) match(path string, v any) Match {
	var m Match
	o := d.object(path, v, "classification", "tenant_class")
	if o == nil {
		return m
	}
	for i, c := range d.strs(path+".classification", o["classification"]) {
		cl := model.Classification(c)
		if !validClassification(cl) {
			d.bad(fmt.Sprintf("%s.classification[%d]", path, i), "%q is not one of %s", c, classificationNames)
		}
		m.Classification = append(m.Classification, cl)
	}
	for i, c := range d.strs(path+".tenant_class", o["tenant_class"]) {
		tc := model.TenantClass(c)
		if !validTenantClass(tc) {
			d.bad(fmt.Sprintf("%s.tenant_class[%d]", path, i), "%q is not one of %s", c, tenantClassNames)
		}
		m.TenantClass = append(m.TenantClass, tc)
	}
	return m
}

var selectorFields = []string{"origin", "vendor", "model", "firmware", "driver", "operator", "province", "ownership"}

func (d *decoder) selector(path string, v any) *Selector {
	s := &Selector{}
	o := d.object(path, v, selectorFields...)
	if o == nil {
		return s
	}
	if len(o) == 0 {
		d.bad(path, "empty; name at least one of %s", strings.Join(selectorFields, ", "))
	}
	if ov, ok := o["origin"]; ok {
		s.Origin = d.str(path+".origin", ov)
		if s.Origin != Domestic && s.Origin != Foreign {
			d.bad(path+".origin", "%q is not one of domestic, foreign", s.Origin)
		}
	}
	for i, name := range d.strs(path+".vendor", o["vendor"]) {
		vendor, ok := d.vendors[normalizeName(name)]
		if !ok {
			d.bad(fmt.Sprintf("%s.vendor[%d]", path, i), "%q is not a vendor in the catalog; known: %s", name, strings.Join(vendorNames(d.cat), ", "))
			continue
		}
		s.Vendor = appendNew(s.Vendor, vendor)
	}
	for i, name := range d.strs(path+".model", o["model"]) {
		m, ok := d.cat.Lookup(name)
		if !ok {
			d.bad(fmt.Sprintf("%s.model[%d]", path, i), "%q is not a model in the catalog; `suanli catalog` lists the ids", name)
			continue
		}
		s.Model = appendNew(s.Model, m.ID)
	}
	s.Firmware, s.firmware = d.versionRange(path+".firmware", o["firmware"])
	s.Driver, s.driver = d.versionRange(path+".driver", o["driver"])
	for i, op := range d.strs(path+".operator", o["operator"]) {
		if strings.TrimSpace(op) == "" {
			d.bad(fmt.Sprintf("%s.operator[%d]", path, i), "empty")
		}
		s.Operator = append(s.Operator, op)
	}
	for i, pr := range d.strs(path+".province", o["province"]) {
		if strings.TrimSpace(pr) == "" {
			d.bad(fmt.Sprintf("%s.province[%d]", path, i), "empty")
		}
		s.Province = append(s.Province, pr)
	}
	for i, ow := range d.strs(path+".ownership", o["ownership"]) {
		if !model.Ownership(ow).Valid() {
			d.bad(fmt.Sprintf("%s.ownership[%d]", path, i), "%q is not one of self-built, leased", ow)
		}
		s.Ownership = append(s.Ownership, model.Ownership(ow))
	}
	return s
}

func (d *decoder) versionRange(path string, v any) (string, Range) {
	if v == nil {
		return "", Range{}
	}
	s := d.str(path, v)
	r, err := ParseRange(s)
	if err != nil {
		d.bad(path, "%v", err)
		return s, Range{}
	}
	return r.String(), r
}

const (
	classificationNames = "public, internal, sensitive, critical-infrastructure"
	tenantClassNames    = "government, state-owned, private, foreign"
)

func validClassification(c model.Classification) bool {
	switch c {
	case model.Public, model.Internal, model.Sensitive, model.CriticalInfrastructure:
		return true
	}
	return false
}

func validTenantClass(c model.TenantClass) bool {
	switch c {
	case model.Government, model.StateOwned, model.Private, model.Foreign:
		return true
	}
	return false
}

func appendNew(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

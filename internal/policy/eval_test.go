package policy

import (
	"strings"
	"testing"

	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/model"
)

// schedPolicy is the hook's shape as the scheduler declares it; Filter must
// satisfy it exactly.
type schedPolicy interface {
	Allow(job *model.Job, site *model.Site, node *model.Node, m *catalog.Model) (ok bool, rule string)
}

var _ schedPolicy = Filter{}

const rulesDoc = `
version: 1
rules:
- id: R1
  match: {classification: [sensitive, critical-infrastructure]}
  effect: require
  require: {origin: domestic}
- id: R2
  match: {tenant_class: [government]}
  effect: require
  require: {origin: domestic, ownership: [self-built]}
- id: R3
  match: {classification: [critical-infrastructure]}
  effect: deny
  deny: {ownership: [leased]}
- id: R4
  match: {classification: [sensitive]}
  effect: require
  require: {firmware: ">=24.1.0 <25", vendor: [Huawei]}
- id: R5
  match: {tenant_class: [foreign]}
  effect: deny
  deny: {province: [beijing]}
- id: R6
  description: internal work stays with China Mobile
  match: {classification: [internal]}
  effect: require
  require: {operator: [China Mobile]}
- id: R7
  match: {classification: [public]}
  effect: deny
  deny: {model: [H20], driver: "<550"}
`

func TestEvaluateRules(t *testing.T) {
	net := testNetwork(t)
	e := mustEngine(t, rulesDoc)
	tests := []struct {
		name   string
		class  model.Classification
		tenant *model.Tenant
		node   model.NodeID
		rule   string   // "" = allowed
		why    []string // explanation substrings
	}{
		{"sensitive on H20", model.Sensitive, privTenant, "gy-h1", "R1", []string{"nvidia-h20 is foreign (US)"}},
		{"sensitive on new Ascend firmware", model.Sensitive, privTenant, "gy-a1", "", nil},
		{"sensitive on old Ascend firmware", model.Sensitive, privTenant, "gy-a2", "R4", []string{"node gy-a2 firmware 23.0.3 is outside >=24.1.0 <25"}},
		{"sensitive on Ascend without firmware label", model.Sensitive, privTenant, "gy-b1", "R4", []string{"has no suanli.io/firmware label"}},
		{"sensitive on Cambricon", model.Sensitive, privTenant, "gy-m1", "R4", []string{"vendor Cambricon is not Huawei"}},
		{"sensitive on leased Ascend", model.Sensitive, privTenant, "sh-a1", "", nil},
		{"critical on leased Ascend", model.CriticalInfrastructure, privTenant, "sh-a1", "R3", []string{"site sh is leased"}},
		{"critical on self-built Cambricon", model.CriticalInfrastructure, privTenant, "gy-m1", "", nil},
		{"government public job on leased domestic", model.Public, govTenant, "sh-a1", "R2", []string{"site sh is leased, not self-built"}},
		{"government public job on foreign", model.Public, govTenant, "gy-h1", "R2", []string{"nvidia-h20 is foreign"}},
		{"government public job in Guizhou", model.Public, govTenant, "gy-m1", "", nil},
		{"foreign tenant in Beijing (case-insensitive)", model.Public, foreignTenant, "bj-c1", "R5", []string{"site bj is in Beijing"}},
		{"foreign tenant in Guizhou", model.Public, foreignTenant, "gy-m1", "", nil},
		{"internal outside China Mobile", model.Internal, privTenant, "bj-c1", "R6", []string{"internal work stays with China Mobile", "operated by China Unicom, not China Mobile"}},
		{"public on H20 with old driver", model.Public, privTenant, "gy-h1", "R7", []string{"model nvidia-h20, node gy-h1 driver 535.104.05 is in <550"}},
		{"public on H20 with unknown driver", model.Public, privTenant, "sh-h1", "R7", []string{"has no suanli.io/driver label"}},
		{"unclassified counts as public", "", privTenant, "sh-h1", "R7", nil},
		{"unknown tenant held to every class", model.Public, nil, "sh-a1", "R2", nil},
	}
	for _, tt := range tests {
		job := testJob("j", "x", tt.class)
		site, node, m := at(t, net, tt.node)
		v := e.Evaluate(job, tt.tenant, site, node, m)
		if v.Allowed != (tt.rule == "") || v.Rule != tt.rule {
			t.Errorf("%s: verdict %+v, want rule %q", tt.name, v, tt.rule)
			continue
		}
		if tt.rule != "" && v.Reason != ReasonRule {
			t.Errorf("%s: reason %q", tt.name, v.Reason)
		}
		for _, w := range tt.why {
			if !strings.Contains(v.Explanation, w) {
				t.Errorf("%s: explanation %q lacks %q", tt.name, v.Explanation, w)
			}
		}
		ok, rule := e.For(tt.tenant).Allow(job, site, node, m)
		if ok != v.Allowed || rule != v.Rule {
			t.Errorf("%s: Allow = %v %q, Evaluate = %+v", tt.name, ok, rule, v)
		}
	}
}

func TestEvaluateNeedsCapacity(t *testing.T) {
	net := testNetwork(t)
	site, node, m := at(t, net, "gy-a1")
	e := NewEngine(nil)
	job := testJob("j", "gov", model.Public)
	for _, c := range []struct {
		site *model.Site
		node *model.Node
		m    *catalog.Model
	}{{nil, node, m}, {site, nil, m}, {site, node, nil}} {
		ok, rule := e.For(govTenant).Allow(job, c.site, c.node, c.m)
		if ok || rule != ReasonUnknownCapacity {
			t.Errorf("Allow with missing capacity = %v %q; the policy must fail closed", ok, rule)
		}
	}
	if ok, _ := e.For(govTenant).Allow(job, site, node, m); !ok {
		t.Error("an empty policy allows everything")
	}
}

func TestRuleSummaries(t *testing.T) {
	p, err := Parse([]byte(rulesDoc), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][2]string{ // summary, excluded noun
		"R1": {"sensitive/critical-infrastructure jobs need domestic chips", "foreign cards"},
		"R2": {"government tenants' jobs need domestic chips in self-built sites", "non-compliant cards"},
		"R3": {"critical-infrastructure jobs may not run on leased sites", "cards in leased sites"},
		"R4": {"sensitive jobs need Huawei chips with firmware >=24.1.0 <25", "non-compliant cards"},
		"R5": {"foreign tenants' jobs may not run on sites in beijing", "cards in sites in beijing"},
		"R6": {"internal work stays with China Mobile", "cards of other operators"},
		"R7": {"public jobs may not run on nvidia-h20 chips with driver <550", "nvidia-h20 cards with driver <550"},
	}
	for _, r := range p.Rules {
		if got := [2]string{r.Summary(), r.excludedNoun()}; got != want[r.ID] {
			t.Errorf("%s: %q, want %q", r.ID, got, want[r.ID])
		}
	}
}

func TestExplain(t *testing.T) {
	e := mustEngine(t, `
version: 1
rules:
- id: R3
  description: sensitive jobs need domestic chips
  match: {classification: [sensitive]}
  effect: require
  require: {origin: domestic}
- id: R4
  match: {classification: [critical-infrastructure]}
  effect: deny
  deny: {ownership: [leased]}
`)
	if _, err := e.File(Advisory{ID: "ADV-7", Models: []string{"H20"}, Severity: Critical, Action: Evict, Summary: "H20 under security review"}); err != nil {
		t.Fatal(err)
	}
	got := e.Snapshot().Explain(map[string]int{"R3": 12480, "R4": 1, "ADV-7": 3200, "R9": 5, "R1": 0, ReasonUnknownCapacity: 2})
	want := []string{
		"denied by rule R3: sensitive jobs need domestic chips — 12,480 foreign cards excluded",
		"denied by advisory ADV-7 (evict, critical): H20 under security review — 3,200 nvidia-h20 cards excluded",
		"denied by R9 (no longer in force) — 5 cards excluded",
		"denied: site, node or model unknown to the policy — 2 cards excluded",
		"denied by rule R4: critical-infrastructure jobs may not run on leased sites — 1 card in leased sites excluded",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Explain:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 12480: "12,480", 1234567: "1,234,567", -4500: "-4,500"} {
		if got := Thousands(n); got != want {
			t.Errorf("Thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

// The scheduler's path (Allow, nothing formatted) and the explaining path
// (Evaluate) must agree on every job, tenant and card.
func TestAllowAgreesWithEvaluate(t *testing.T) {
	net := testNetwork(t)
	e := mustEngine(t, rulesDoc)
	for _, a := range []Advisory{
		{ID: "A1", Models: []string{"H20"}, Classes: []model.Classification{model.Sensitive}, Severity: High, Action: Evict},
		{ID: "A2", Vendor: "Huawei", Firmware: "<24", Severity: Low, Action: Drain},
		{ID: "A3", Vendor: "Cambricon", Severity: Low, Action: Watch},
	} {
		if _, err := e.File(a); err != nil {
			t.Fatal(err)
		}
	}
	denied := 0
	for _, class := range []model.Classification{"", model.Public, model.Internal, model.Sensitive, model.CriticalInfrastructure} {
		for _, tenant := range []*model.Tenant{nil, govTenant, soeTenant, privTenant, foreignTenant} {
			for i := range net.Nodes {
				site, node, m := at(t, net, net.Nodes[i].ID)
				job := testJob("j", "x", class)
				v := e.Evaluate(job, tenant, site, node, m)
				ok, rule := e.For(tenant).Allow(job, site, node, m)
				if ok != v.Allowed || rule != v.Rule || v.Allowed != (v.Explanation == "") {
					t.Errorf("%s/%v on %s: Allow %v %q, Evaluate %+v", class, tenant, node.ID, ok, rule, v)
				}
				if !ok {
					denied++
				}
			}
		}
	}
	if denied == 0 {
		t.Fatal("nothing denied: the property tested nothing")
	}
}

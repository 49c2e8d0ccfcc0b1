package policy

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/suanli/suanli/internal/model"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the golden files in testdata/")

func place(job *model.Job, node model.NodeID, cards ...int) Running {
	p := &model.Placement{Job: job.ID, Assignments: []model.Assignment{{Node: node, Cards: cards}}}
	return Running{Job: job, Tenant: tenantByID(job.Tenant), Placement: p}
}

// complianceFixture: the sovereign-sensitive example policy, a drain
// advisory on H20 for sensitive work, and seven running jobs (see the
// sums in TestComplianceNumbers).
func complianceFixture(t *testing.T) (*Engine, []Running, []Exemption) {
	t.Helper()
	e := NewEngine(nil)
	doc, err := os.ReadFile("../../examples/policies/sovereign-sensitive.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Replace(doc); err != nil {
		t.Fatal(err)
	}
	if _, err := e.File(Advisory{ID: "ADV-1", Models: []string{"H20"}, Classes: []model.Classification{model.Sensitive},
		Severity: High, Action: Drain, Filed: 10, Summary: "H20 under security review"}); err != nil {
		t.Fatal(err)
	}
	frac := testJob("j3", "priv", model.Sensitive)
	frac.Kind, frac.CardsPerWorker, frac.ShareMilli = model.Inference, 0, 250
	j3 := Running{Job: frac, Tenant: privTenant, Placement: &model.Placement{Job: "j3",
		Assignments: []model.Assignment{{Node: "sh-h1", Cards: []int{0}, ShareMilli: 250, MemMiB: 8192}}}}
	run := []Running{
		place(testJob("j1", "gov", model.Sensitive), "gy-a1", 0, 1, 2, 3, 4, 5, 6, 7),
		place(testJob("j2", "priv", model.Public), "gy-h1", 0, 1, 2, 3, 4, 5, 6, 7),
		j3,
		place(testJob("j4", "soe", model.Internal), "gy-b1", 0, 1, 2, 3, 4, 5, 6, 7),
		place(testJob("j5", "frn", model.Public), "bj-c1", 0, 1, 2, 3),
		place(testJob("j6", "gov", model.Public), "sh-a1", 0, 1, 2, 3),
		place(testJob("j7", "priv", model.CriticalInfrastructure), "sh-a1", 4, 5, 6, 7),
	}
	ex := []Exemption{
		{ID: "E1", Job: "j6", Rule: "R2", Expires: 1000, Reason: "migration window"},
		{ID: "E2", Job: "j7", Expires: 400},
		{ID: "E3", Tenant: "frn", Rule: "R1", Expires: 9999}, // covers nothing here
	}
	return e, run, ex
}

func TestComplianceNumbers(t *testing.T) {
	net := testNetwork(t)
	e, run, ex := complianceFixture(t)
	if err := ValidateExemptions(ex); err != nil {
		t.Fatal(err)
	}
	r := Compliance(net, e.Snapshot(), run, ex, 500)

	// Installed: 60 cards; known FP16 = 3×8×280,000 (910B4) + 12×96,000
	// (MLU370) + 16×148,000 (H20) = 10,240,000 GFLOPS, of which domestic
	// 7,872,000 (768.75‰, 769 rounded); the 8 910B3 cards have no FP16 figure.
	wantInstalled := Share{CardsMilli: 60000, DomesticCardsMilli: 44000, GFLOPS: 10_240_000, DomesticGFLOPS: 7_872_000,
		DomesticPerMille: 769, UnknownCardsMilli: 8000, UnknownDomesticCardsMilli: 8000}
	if r.Installed != wantInstalled {
		t.Errorf("installed %+v\nwant      %+v", r.Installed, wantInstalled)
	}
	// Allocated: j1 2,240,000 + j2 1,184,000 + j3 ¼×148,000 + j5 384,000 +
	// j6 1,120,000 + j7 1,120,000 = 6,085,000; domestic 4,864,000 (799‰);
	// j4's 8 910B3 cards unknown.
	wantAllocated := Share{CardsMilli: 36250, DomesticCardsMilli: 28000, GFLOPS: 6_085_000, DomesticGFLOPS: 4_864_000,
		DomesticPerMille: 799, UnknownCardsMilli: 8000, UnknownDomesticCardsMilli: 8000}
	if r.Allocated != wantAllocated {
		t.Errorf("allocated %+v\nwant      %+v", r.Allocated, wantAllocated)
	}

	type row struct {
		key                string
		inG, inDom, inPerM int64
		alG, alPerM        int64
	}
	var ops []row
	for _, g := range r.ByOperator {
		ops = append(ops, row{g.Key, g.Installed.GFLOPS, g.Installed.DomesticGFLOPS, g.Installed.DomesticPerMille, g.Allocated.GFLOPS, g.Allocated.DomesticPerMille})
	}
	wantOps := []row{
		{"China Mobile", 6_432_000, 5_248_000, 816, 3_424_000, 654},
		{"China Telecom", 3_424_000, 2_240_000, 654, 2_277_000, 984},
		{"China Unicom", 384_000, 384_000, 1000, 384_000, 1000},
	}
	if !reflect.DeepEqual(ops, wantOps) {
		t.Errorf("by operator %+v\nwant        %+v", ops, wantOps)
	}
	if len(r.BySite) != 3 || r.BySite[0].Key != "bj" || r.BySite[1].Installed.UnknownCardsMilli != 8000 {
		t.Errorf("by site %+v", r.BySite)
	}
	var classes []row
	for _, g := range r.ByTenantClass {
		if g.Installed != nil {
			t.Errorf("tenant class %s has installed capacity", g.Key)
		}
		classes = append(classes, row{key: g.Key, alG: g.Allocated.GFLOPS, alPerM: g.Allocated.DomesticPerMille, inG: g.Allocated.UnknownCardsMilli})
	}
	wantClasses := []row{
		{key: "foreign", alG: 384_000, alPerM: 1000},
		{key: "government", alG: 3_360_000, alPerM: 1000},
		{key: "private", alG: 2_341_000, alPerM: 478},
		{key: "state-owned", inG: 8000},
	}
	if !reflect.DeepEqual(classes, wantClasses) {
		t.Errorf("by tenant class %+v\nwant           %+v", classes, wantClasses)
	}

	// j3 (sensitive on foreign H20) and j7 (critical on leased, its
	// exemption expired at 400) break R1; j6 (government on leased) breaks
	// R2 under exemption E1. The drain advisory moves nothing.
	var got []string
	for _, v := range r.Violations {
		got = append(got, string(v.Job)+":"+v.Rule+":"+v.Note)
	}
	if want := []string{"j3:R1:", "j7:R1:exemption E2 expired at 400"}; !reflect.DeepEqual(got, want) {
		t.Errorf("violations %v, want %v", got, want)
	}
	if r.Violations[0].CardsMilli != 250 {
		t.Errorf("j3 holds a quarter card: %+v", r.Violations[0])
	}
	if len(r.Exempted) != 1 || r.Exempted[0].Job != "j6" || r.Exempted[0].Exemption != "E1" || r.Exempted[0].ExemptUntil != 1000 {
		t.Errorf("exempted %+v", r.Exempted)
	}
	if want := []AdvisoryImpact{{ID: "ADV-1", Action: Drain, Severity: High, Summary: "H20 under security review", Filed: 10, Cards: 16, RunningJobs: 1}}; !reflect.DeepEqual(r.Advisories, want) {
		t.Errorf("advisories %+v", r.Advisories)
	}

	// After E1 expires, j6 is a violation too.
	later := Compliance(net, e.Snapshot(), run, ex, 1000)
	if len(later.Violations) != 3 || len(later.Exempted) != 0 {
		t.Errorf("at 1000: %d violations, %d exempted", len(later.Violations), len(later.Exempted))
	}
}

func TestComplianceJSONAndText(t *testing.T) {
	net := testNetwork(t)
	e, run, ex := complianceFixture(t)
	r := Compliance(net, e.Snapshot(), run, ex, 500)
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"installed":{"cards_milli":60000`, `"domestic_permille":769`, `"by_tenant_class":[`, `"violations":[{"job":"j3"`, `"exempt_until":1000`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("JSON lacks %s", key)
		}
	}
	empty, _ := json.Marshal(Compliance(net, NewEngine(nil).Snapshot(), nil, nil, 0))
	if !strings.Contains(string(empty), `"violations":[]`) {
		t.Errorf("no violations must read as an empty list, not null: %s", empty)
	}

	golden := filepath.Join("testdata", "compliance.txt")
	text := r.Text()
	if *rewrite {
		if err := os.WriteFile(golden, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -rewrite to create it)", err)
	}
	if text != string(want) {
		t.Errorf("Text() differs from %s (rerun with -rewrite and review the diff):\n%s", golden, text)
	}
}

func TestComplianceWarnsAboutUnknownNodes(t *testing.T) {
	net := testNetwork(t)
	run := []Running{place(testJob("ghost", "priv", model.Public), "nowhere", 0), {Job: nil}}
	r := Compliance(net, NewEngine(nil).Snapshot(), run, nil, 0)
	if r.Allocated.CardsMilli != 0 || len(r.Warnings) != 2 || !strings.Contains(strings.Join(r.Warnings, "\n"), "node nowhere is not in the network") {
		t.Errorf("allocated %+v warnings %q", r.Allocated, r.Warnings)
	}
}

func TestValidateExemptions(t *testing.T) {
	err := ValidateExemptions([]Exemption{{ID: "A", Job: "j", Expires: 5}, {ID: "A", Job: "j", Tenant: "t"}, {}})
	for _, w := range []string{
		`exemptions[1].id: "A" is already used by exemptions[0]`,
		"exemptions[1]: give exactly one of job, tenant",
		"exemptions[1].expires: 0",
		"exemptions[2].id: missing",
		"exemptions[2]: give exactly one of job, tenant",
		"exemptions[2].expires: 0",
	} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q: %v", w, err)
		}
	}
}

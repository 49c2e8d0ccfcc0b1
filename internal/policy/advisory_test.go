package policy

import (
	"reflect"
	"strings"
	"testing"

	"github.com/suanli/suanli/internal/model"
)

// TestAdvisoryActions runs each action against the same placements and
// new-placement checks: watch changes nothing, drain stops new placements
// of the affected classes, evict also reports the running ones; lifting
// restores everything.
func TestAdvisoryActions(t *testing.T) {
	net := testNetwork(t)
	sens := testJob("sens", "priv", model.Sensitive)
	pub := testJob("pub", "priv", model.Public)
	run := []Running{running(sens, "gy-h1"), running(pub, "sh-h1"), running(testJob("sens-ok", "priv", model.Sensitive), "gy-a1")}
	site, node, m := at(t, net, "sh-h1")

	tests := []struct {
		action                Action
		placeSens, placePub   bool
		violations            []model.JobID
		violationRule, source string
	}{
		{Watch, true, true, nil, "", ""},
		{Drain, false, true, nil, "", ""},
		{Evict, false, true, []model.JobID{"sens"}, "ADV-1", "advisory"},
	}
	for _, tt := range tests {
		e := NewEngine(nil)
		a, err := e.File(Advisory{ID: "ADV-1", Models: []string{"H20"}, Classes: []model.Classification{model.Sensitive},
			Severity: High, Action: tt.action, Filed: 100, FiledBy: "admin"})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a.Models, []string{"nvidia-h20"}) {
			t.Errorf("models not resolved: %v", a.Models)
		}
		check := func(phase string, placeSens, placePub bool, want []model.JobID) {
			t.Helper()
			vs, vp := e.Evaluate(sens, privTenant, site, node, m), e.Evaluate(pub, privTenant, site, node, m)
			if vs.Allowed != placeSens || vp.Allowed != placePub {
				t.Errorf("%s %s: new sensitive allowed=%v public allowed=%v, want %v %v", tt.action, phase, vs.Allowed, vp.Allowed, placeSens, placePub)
			}
			if !vs.Allowed && (vs.Rule != "ADV-1" || vs.Reason != ReasonAdvisory || !strings.Contains(vs.Explanation, "node sh-h1 has nvidia-h20")) {
				t.Errorf("%s %s: verdict %+v", tt.action, phase, vs)
			}
			var got []model.JobID
			for _, v := range e.Violations(net, run, nil, 200) {
				got = append(got, v.Job)
				if v.Rule != tt.violationRule || v.Source != tt.source || !reflect.DeepEqual(v.Nodes, []model.NodeID{"gy-h1"}) || v.CardsMilli != 8000 {
					t.Errorf("%s %s: violation %+v", tt.action, phase, v)
				}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s %s: violations %v, want %v", tt.action, phase, got, want)
			}
		}
		check("filed", tt.placeSens, tt.placePub, tt.violations)
		if _, err := e.Lift("ADV-1", 300, "admin"); err != nil {
			t.Fatal(err)
		}
		check("lifted", true, true, nil)
		got, _ := e.Snapshot().Advisory("ADV-1")
		if got.Active() || *got.Lifted != 300 || got.LiftedBy != "admin" || got.Filed != 100 || got.FiledBy != "admin" {
			t.Errorf("%s: the record does not keep who filed and lifted when: %+v", tt.action, got)
		}
	}
}

func TestAdvisoryCoverage(t *testing.T) {
	net := testNetwork(t)
	tests := []struct {
		name string
		adv  Advisory
		node model.NodeID
		hit  bool
	}{
		{"vendor", Advisory{Vendor: "huawei"}, "gy-a1", true},
		{"other vendor", Advisory{Vendor: "Huawei"}, "gy-m1", false},
		{"vendor and model", Advisory{Vendor: "Huawei", Models: []string{"Ascend 910B3"}}, "gy-b1", true},
		{"vendor and other model", Advisory{Vendor: "Huawei", Models: []string{"Ascend 910B3"}}, "gy-a1", false},
		{"firmware in range", Advisory{Vendor: "Huawei", Firmware: "<24"}, "gy-a2", true},
		{"firmware out of range", Advisory{Vendor: "Huawei", Firmware: "<24"}, "gy-a1", false},
		{"firmware unknown counts as affected", Advisory{Vendor: "Huawei", Firmware: "<24"}, "gy-b1", true},
		{"driver in range", Advisory{Models: []string{"H20"}, Driver: ">=535 <536"}, "gy-h1", true},
		{"driver unknown", Advisory{Models: []string{"H20"}, Driver: ">=535 <536"}, "sh-h1", true},
	}
	for _, tt := range tests {
		e := NewEngine(nil)
		tt.adv.ID, tt.adv.Severity, tt.adv.Action = "A1", Medium, Drain
		if _, err := e.File(tt.adv); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		site, node, m := at(t, net, tt.node)
		v := e.Evaluate(testJob("j", "priv", model.Public), privTenant, site, node, m)
		if v.Allowed == tt.hit {
			t.Errorf("%s: on %s verdict %+v, want covered=%v", tt.name, tt.node, v, tt.hit)
		}
	}
}

func TestAdvisoryValidation(t *testing.T) {
	e := NewEngine(nil)
	_, err := e.File(Advisory{ID: "R7", Vendor: "Huawei", Models: []string{"H20", "nope"}, Firmware: ">=x",
		Classes: []model.Classification{"secret"}, Severity: "severe", Action: "quarantine"})
	if err == nil {
		t.Fatal("accepted")
	}
	want := []string{
		`advisory.id: "R7" looks like a rule id`,
		`advisory.models[0]: nvidia-h20 is made by NVIDIA, not Huawei`,
		`advisory.models[1]: "nope" is not a model in the catalog`,
		`advisory.firmware: version "x" must start with a number`,
		`advisory.classes[0]: "secret" is not one of`,
		`advisory.severity: "severe" is not one of low, medium, high, critical`,
		`advisory.action: "quarantine" is not one of watch, drain, evict`,
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q", w)
		}
	}
	if n := strings.Count(err.Error(), "\n") + 1; n != len(want) {
		t.Errorf("%d errors, want %d:\n%v", n, len(want), err)
	}
	if _, err := e.File(Advisory{ID: "A", Severity: Low, Action: Watch}); err == nil || !strings.Contains(err.Error(), "give a vendor, models, or both") {
		t.Errorf("an advisory covering nothing: %v", err)
	}
	if len(e.Snapshot().Advisories()) != 0 || e.Snapshot().Revision() != 0 {
		t.Error("a rejected advisory changed the state")
	}
}

func TestAdvisoryLifecycleErrors(t *testing.T) {
	e := NewEngine(nil)
	a := Advisory{ID: "A1", Vendor: "NVIDIA", Severity: Critical, Action: Evict, Filed: 50}
	if _, err := e.File(a); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name string
		do   func() error
		want string
	}{
		{"refile", func() error { _, err := e.File(a); return err }, "already used"},
		{"lift before filing", func() error { _, err := e.Lift("A1", 10, "x"); return err }, "before it was filed"},
		{"lift unknown", func() error { _, err := e.Lift("A2", 60, "x"); return err }, "no such advisory"},
		{"lift", func() error { _, err := e.Lift("A1", 60, "x"); return err }, ""},
		{"lift twice", func() error { _, err := e.Lift("A1", 70, "y"); return err }, "already lifted at 60 by x"},
		{"refile lifted id", func() error { _, err := e.File(a); return err }, "never reused"},
	}
	for _, s := range steps {
		err := s.do()
		if (s.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), s.want) {
			t.Errorf("%s: %v, want %q", s.name, err, s.want)
		}
	}
	// History restored from a store: a lifted record files as lifted.
	lifted := int64(90)
	r := NewEngine(nil)
	if _, err := r.File(Advisory{ID: "A9", Vendor: "NVIDIA", Severity: Low, Action: Evict, Filed: 80, Lifted: &lifted}); err != nil {
		t.Fatal(err)
	}
	lifted = 1 // the engine keeps its own copy
	if got, _ := r.Snapshot().Advisory("A9"); got.Active() || *got.Lifted != 90 {
		t.Errorf("restored record %+v", got)
	}
}

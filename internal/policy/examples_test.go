package policy

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/suanli/suanli/internal/model"
)

const examplesDir = "../../examples/policies"

// TestExamplePolicies loads every shipped example and checks that each
// does what its name says on the test network.
func TestExamplePolicies(t *testing.T) {
	net := testNetwork(t)
	type check struct {
		class  model.Classification
		tenant *model.Tenant
		node   model.NodeID
		rule   string // "" = allowed
	}
	want := map[string][]check{
		"sovereign-sensitive.yaml": {
			{model.Sensitive, privTenant, "gy-h1", "R1"},             // foreign chip
			{model.Sensitive, privTenant, "sh-a1", "R1"},             // leased site
			{model.CriticalInfrastructure, soeTenant, "gy-h1", "R1"}, // held as tightly
			{model.Sensitive, privTenant, "gy-a1", ""},               // domestic, self-built
			{model.Public, govTenant, "gy-h1", "R2"},                 // government work
			{model.Public, govTenant, "sh-a1", "R2"},                 //
			{model.Public, govTenant, "bj-c1", ""},                   //
			{model.Public, privTenant, "sh-h1", ""},                  // everyone else anywhere
		},
		"security-review.yaml": {
			{model.Public, privTenant, "gy-h1", "R1"},
			{model.Sensitive, govTenant, "sh-h1", "R1"},
			{model.Public, privTenant, "gy-a1", ""},
		},
		"no-leased-critical.yaml": {
			{model.CriticalInfrastructure, govTenant, "sh-a1", "R1"},
			{model.CriticalInfrastructure, govTenant, "sh-h1", "R1"},
			{model.CriticalInfrastructure, govTenant, "gy-h1", ""},
			{model.Sensitive, govTenant, "sh-a1", ""},
		},
		"national-baseline.yaml": {
			{model.Sensitive, privTenant, "gy-a2", "R3"}, // firmware 23.0.3 below the floor
			{model.Sensitive, privTenant, "gy-b1", "R3"}, // firmware unknown
			{model.Sensitive, privTenant, "gy-a1", ""},
			{model.Sensitive, privTenant, "gy-m1", ""}, // not Huawei: no firmware rule
			{model.CriticalInfrastructure, privTenant, "sh-a1", "R2"},
			{model.Public, foreignTenant, "bj-c1", "R4"},
		},
	}
	files, err := filepath.Glob(filepath.Join(examplesDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
	}
	var wantNames []string
	for n := range want {
		wantNames = append(wantNames, n)
	}
	sort.Strings(wantNames)
	if strings.Join(names, " ") != strings.Join(wantNames, " ") {
		t.Fatalf("examples %v; every example needs checks here, want %v", names, wantNames)
	}
	for _, f := range files {
		p, err := LoadFile(f, nil)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		doc, _ := os.ReadFile(f)
		e := NewEngine(nil)
		if err := e.Replace(doc); err != nil {
			t.Fatal(err)
		}
		for _, c := range want[filepath.Base(f)] {
			site, node, m := at(t, net, c.node)
			v := e.Evaluate(testJob("j", c.tenant.ID, c.class), c.tenant, site, node, m)
			if v.Rule != c.rule || v.Allowed != (c.rule == "") {
				t.Errorf("%s (%s): %s job of %s on %s: %+v, want rule %q", filepath.Base(f), p.Name, c.class, c.tenant.Class, c.node, v, c.rule)
			}
		}
	}
}

// The document example in README.md parses.
func TestReadmeExample(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "```yaml\n")
	block, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("README.md has no yaml block")
	}
	p, err := Parse([]byte(block), nil)
	if err != nil {
		t.Fatalf("README example: %v", err)
	}
	if got := p.Rules[0].Require.Model; strings.Join(got, " ") != "huawei-ascend-910b4 nvidia-h20" {
		t.Errorf("README example models resolve to %v", got)
	}
}

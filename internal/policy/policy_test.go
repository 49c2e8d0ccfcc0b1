package policy

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/suanli/suanli/internal/model"
)

const fullDoc = `
version: 3
name: test
rules:
- id: R1
  match:
    classification: sensitive          # a single value is a list of one
    tenant_class: [government, state-owned]
  effect: require
  require:
    origin: domestic
    vendor: [huawei, "Enflame"]
    firmware: ">= 24.1.0, <25"
    ownership: [self-built]
- id: R2
  effect: deny
  deny:
    model: [H20, "MLU370-X8"]
    operator: [China Telecom]
    province: [Shanghai]
    driver: "<535"
`

func TestParseResolvesNames(t *testing.T) {
	p, err := Parse([]byte(fullDoc), nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.Version != 3 || p.Name != "test" || len(p.Rules) != 2 {
		t.Fatalf("parsed %+v", p)
	}
	r1, r2 := p.Rules[0], p.Rules[1]
	if !reflect.DeepEqual(r1.Match.Classification, []model.Classification{model.Sensitive}) {
		t.Errorf("classification %v", r1.Match.Classification)
	}
	if !reflect.DeepEqual(r1.Require.Vendor, []string{"Huawei", "Enflame (Suiyuan)"}) {
		t.Errorf("vendors resolve to catalog names: %v", r1.Require.Vendor)
	}
	if r1.Require.Firmware != ">=24.1.0 <25" {
		t.Errorf("firmware range is kept canonical: %q", r1.Require.Firmware)
	}
	if !reflect.DeepEqual(r2.Deny.Model, []string{"nvidia-h20", "cambricon-mlu370-x8"}) {
		t.Errorf("models resolve to catalog ids: %v", r2.Deny.Model)
	}
	if r1.Deny != nil || r2.Require != nil {
		t.Error("only the effect's selector is set")
	}
}

// TestParseListsEveryError feeds one document with a mistake in nearly
// every field and expects each to be reported, with its path.
func TestParseListsEveryError(t *testing.T) {
	doc := `
version: 0
nmae: typo
rules:
- id: R1
  match:
    classification: [secret, public]
    tenant_class: [alien]
    tenant: [x]
  effect: require
  require:
    origin: domestic-ish
    vendor: [Intel]
    model: [H2O]
    firmware: ">=25 <24"
    ownership: [rented]
    colour: red
- id: R1
  effect: deny
  require: {origin: foreign}
- id: rule-3
  effect: allow
- effect: deny
  deny: {}
- id: R5
  effect: require
  require:
    operator: []
    province: 7
- "R6"
`
	_, err := Parse([]byte(doc), nil)
	if err == nil {
		t.Fatal("accepted")
	}
	want := []string{
		`version: 0 must be at least 1`,
		`nmae: unknown field; known fields: version, name, description, rules`,
		`rules[0].match.classification[0]: "secret" is not one of public, internal, sensitive, critical-infrastructure`,
		`rules[0].match.tenant_class[0]: "alien" is not one of government, state-owned, private, foreign`,
		`rules[0].match.tenant: unknown field`,
		`rules[0].require.origin: "domestic-ish" is not one of domestic, foreign`,
		`rules[0].require.vendor[0]: "Intel" is not a vendor in the catalog; known: AMD,`,
		`rules[0].require.model[0]: "H2O" is not a model in the catalog`,
		`rules[0].require.firmware: ">=25 <24" matches no version`,
		`rules[0].require.ownership[0]: "rented" is not one of self-built, leased`,
		`rules[0].require.colour: unknown field`,
		`rules[1].id: "R1" is already used by rules[0]`,
		`rules[1].deny: missing; a deny rule names the capacity under deny`,
		`rules[1].require: given, but the effect is deny; put the conditions under deny`,
		`rules[2].id: "rule-3" is not of the form R1, R2, …`,
		`rules[2].effect: "allow" is not one of require, deny`,
		`rules[3].id: missing`,
		`rules[3].deny: empty; name at least one of origin, vendor, model`,
		`rules[4].require.operator: empty list`,
		`rules[4].require.province: is the number 7; want a list`,
		`rules[5]: is the string "R6"; want a mapping`,
	}
	got := err.Error()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("error lacks %q", w)
		}
	}
	if n := len(strings.Split(got, "\n")); n != len(want) {
		t.Errorf("%d errors reported, want %d:\n%s", n, len(want), got)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ name, doc, want string }{
		{"empty", ``, "document: empty"},
		{"not yaml", "version: [1", "not valid YAML"},
		{"duplicate key", "version: 1\nversion: 2\n", "not valid YAML"},
		{"list at top", "- 1\n", "document: is a list; want a mapping"},
		{"no version", "rules: []\n", "version: missing"},
		{"version string", "version: one\n", `version: is the string "one"; want a whole number`},
		{"version fraction", "version: 1.5\n", "version: 1.5 is not a whole number"},
		{"rules not list", "version: 1\nrules: {}\n", "rules: is a mapping; want a list"},
		{"missing effect", "version: 1\nrules: [{id: R1, require: {origin: domestic}}]\n", "rules[0].effect: missing"},
		{"bad range", "version: 1\nrules: [{id: R1, effect: deny, deny: {driver: \">=x\"}}]\n", "rules[0].deny.driver: version \"x\" must start with a number"},
		{"too big", "version: 1\n#" + strings.Repeat("x", maxDocument), "bytes; 1048576 at most"},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.doc), nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestEmptyPolicyIsValid(t *testing.T) {
	p, err := Parse([]byte("version: 1\n"), nil)
	if err != nil || len(p.Rules) != 0 {
		t.Fatalf("%+v %v", p, err)
	}
}

func TestLoadFile(t *testing.T) {
	if _, err := LoadFile("testdata/does-not-exist.yaml", nil); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	path := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(path, []byte("version: 1\nrules: [{id: R1}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadFile(path, nil)
	if err == nil || !strings.HasPrefix(err.Error(), path+": ") || !strings.Contains(err.Error(), "rules[0].effect: missing") {
		t.Errorf("error does not name the file and the problem: %v", err)
	}
}

// FuzzParse: no input panics; an accepted document, written back out as
// YAML, parses to the same policy.
func FuzzParse(f *testing.F) {
	f.Add([]byte(fullDoc))
	f.Add([]byte("version: 1\n"))
	f.Add([]byte("version: 1\nrules: [{id: R1, effect: deny, deny: {model: [H20]}}]\n"))
	f.Add([]byte(`{"version": 2, "rules": [{"id": "R9", "effect": "require", "require": {"origin": "domestic"}}]}`))
	f.Add([]byte("version: 1\nrules:\n- &a {id: R1}\n- *a\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data, nil)
		if err != nil {
			return
		}
		out, err := yaml.Marshal(p)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		q, err := Parse(out, nil)
		if err != nil {
			t.Fatalf("written back policy does not parse: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(p, q) {
			t.Fatalf("round trip changed the policy:\n%+v\n%+v", p, q)
		}
	})
}

package network

import (
	"strings"
	"testing"

	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/model"
)

func TestDefaultNetwork(t *testing.T) {
	n, err := Default(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !n.Illustrative {
		t.Error("the default network is a reconstruction and must say so")
	}
	cards := map[model.SiteID]int{}
	for _, node := range n.Nodes {
		cards[node.Site] += node.Cards
	}
	for site, want := range map[model.SiteID]int{"cm-hohhot": 20000, "cm-beijing": 4000, "cu-xining": 16384 + 4096 + 1328} {
		if cards[site] != want {
			t.Errorf("%s has %d cards, want %d", site, cards[site], want)
		}
	}
	if got := cards["cm-hohhot"] + cards["cm-harbin"] + cards["cm-guiyang"]; got > 60000 || got < 55000 {
		t.Errorf("Hohhot+Harbin+Guiyang = %d cards, want nearly 60,000", got)
	}
	// The 910C supernodes are 384-card domains.
	for _, d := range n.Domains {
		if d.Model == "huawei-ascend-910c" && (len(d.Nodes) != 48 || d.Kind != model.DomainSupernode) {
			t.Fatalf("910C domain %s has %d nodes (%s), want 48-node supernodes", d.ID, len(d.Nodes), d.Kind)
		}
	}
	if _, ok := n.Node("cm-hohhot-p0-n0"); !ok {
		t.Error("node lookup failed")
	}
	if s, ok := n.Site("ct-shaoguan"); !ok || s.Operator != "China Telecom" || s.PUEMilli != 1200 {
		t.Errorf("site lookup: %+v", s)
	}
}

const good = `
name: test
sites:
- id: a
  region: North
  operator: Op
  ownership: self-built
  pools:
  - {model: cambricon-mlu370-x8, nodes: 2}
`

func TestParseGood(t *testing.T) {
	n, err := Parse([]byte(good), "t.yaml", nil) // nil: the default catalog
	if err != nil {
		t.Fatal(err)
	}
	if len(n.Nodes) != 2 || n.Cards() != 16 || len(n.Domains) != 2 {
		t.Errorf("nodes %d cards %d domains %d", len(n.Nodes), n.Cards(), len(n.Domains))
	}
}

func TestParseReportsEveryProblem(t *testing.T) {
	bad := `
name: bad
sites:
- id: a
  region: North
  operator: Op
  ownership: self-built
  pools: [{model: cambricon-mlu370-x8, nodes: 1}]
- id: a
  region: North
  operator: Op
  ownership: rented
  pools:
  - {model: cambricon-mlu370-x8, nodes: 1}
  - {model: cambricon-mlu370-x8, nodes: 0, cards_per_node: -8}
- id: Bad_ID
  operator: Op
  ownership: leased
  lat: 200
  pue: 0.5
  pools: [{model: Ascend 910X, nodes: 3}]
- id: c
  region: South
  operator: Op
  ownership: leased
  pools: [{model: huawei-ascend-910b3, nodes: 3}]
reported:
- {operator: Nobody, pflops: 10}
- {operator: Op, ownership: rented, pflops: 0}
`
	_, err := Parse([]byte(bad), "bad.yaml", catalog.Default())
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		`sites[1].id: "a" duplicates sites[0]`,
		`sites[1].ownership: "rented" is not one of self-built, leased`,
		`sites[1].pools[1].nodes: 0 must be between`,
		`sites[1].pools[1].cards_per_node: -8`,
		`sites[2].id: "Bad_ID"`,
		`sites[2].region: missing`,
		`sites[2].lat: 200`,
		`sites[2].pue: 0.5`,
		`sites[2].pools[0].model: unknown model "Ascend 910X"`,
		`sites[3].pools[0].model: huawei-ascend-910b3 has no FP16 figure`,
		`reported[0].operator: "Nobody" runs none of the network's sites`,
		`reported[1].ownership: "rented" is not one of self-built, leased`,
		`reported[1].pflops: 0 must be between`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(err)
	}
}

func TestSpecOverridesCatalog(t *testing.T) {
	spec := good + `
catalog:
- id: huawei-ascend-910b3
  fp16_tflops: 300
`
	spec = strings.Replace(spec, "cambricon-mlu370-x8", "Ascend 910B3", 1)
	n, err := Parse([]byte(spec), "t.yaml", catalog.Default())
	if err != nil {
		t.Fatal(err)
	}
	g, conf, _ := n.Model("huawei-ascend-910b3").FP16GFLOPS()
	if g != 300000 || conf != catalog.Override {
		t.Errorf("override = %d %s", g, conf)
	}
}

func TestNodeNames(t *testing.T) {
	spec := strings.Replace(good, "{model: cambricon-mlu370-x8, nodes: 2}", "{model: cambricon-mlu370-x8, nodes: 2, names: [k8s-a, k8s-b]}", 1)
	n, err := Parse([]byte(spec), "t.yaml", catalog.Default())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := n.Node("a-k8s-b"); !ok {
		t.Errorf("named node missing: %v", n.Nodes)
	}
	for _, bad := range []struct{ pools, want string }{
		{"[{model: cambricon-mlu370-x8, nodes: 2, names: [x]}]", "1 names for 2 nodes"},
		{"[{model: cambricon-mlu370-x8, nodes: 2, names: [x, x]}]", `names[1]: "x" given twice`},
		{"[{model: cambricon-mlu370-x8, nodes: 1, names: [x]}, {model: nvidia-h20, nodes: 1, names: [x]}]", `node id "a-x" appears twice`},
		{"[{model: cambricon-mlu370-x8, nodes: 1, names: [Bad_Name]}]", `names[0]: "Bad_Name"`},
	} {
		spec := strings.Replace(good, "pools:\n  - {model: cambricon-mlu370-x8, nodes: 2}", "pools: "+bad.pools, 1)
		_, err := Parse([]byte(spec), "t.yaml", catalog.Default())
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: %v, want %q", bad.pools, err, bad.want)
		}
	}
}

func TestUnknownField(t *testing.T) {
	_, err := Parse([]byte(good+"colour: blue\n"), "t.yaml", catalog.Default())
	if err == nil || !strings.Contains(err.Error(), "colour") {
		t.Errorf("unknown field not named: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(good))
	f.Add(defaultSpec)
	f.Add([]byte("sites: [{id: x, pools: [{model: h20, nodes: 99999999}]}]"))
	cat := catalog.Default()
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := Parse(data, "fuzz", cat)
		if err == nil {
			if len(n.Sites) == 0 || len(n.Nodes) == 0 {
				t.Fatal("accepted a network without sites or nodes")
			}
			for _, node := range n.Nodes {
				if node.Cards <= 0 {
					t.Fatal("node without cards")
				}
			}
		}
	})
}

// TestManyDuplicateSites: a spec repeating one site 20,000 times is
// refused naming the duplicates, in an error of bounded size.
func TestManyDuplicateSites(t *testing.T) {
	var b strings.Builder
	b.WriteString("name: dup\nsites:\n")
	for range 20_000 {
		b.WriteString("- {id: gz, region: South, operator: Op, ownership: leased, pools: [{model: cambricon-mlu370-x8, nodes: 1}]}\n")
	}
	_, err := Parse([]byte(b.String()), "dup.yaml", catalog.Default())
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{`sites[1].id: "gz" duplicates sites[0]`, "sites: 19989 more sites repeat an id given earlier"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q", want)
		}
	}
	if n := len(err.Error()); n > 4096 {
		t.Errorf("error of %d bytes: %.300s…", n, err)
	}
}

func TestSiteLostAfter(t *testing.T) {
	spec := strings.Replace(good, "  ownership: self-built\n", "  ownership: self-built\n  lost_after: 20m\n", 1)
	n, err := Parse([]byte(spec), "t.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := n.Site("a"); s.LostAfterSec != 1200 {
		t.Fatalf("lost_after 20m gave %d s", s.LostAfterSec)
	}
	for _, bad := range []string{"soon", "0s", "-5m", "1500ms", "200h"} {
		spec := strings.Replace(good, "  ownership: self-built\n", "  ownership: self-built\n  lost_after: "+bad+"\n", 1)
		_, err := Parse([]byte(spec), "t.yaml", nil)
		if err == nil || !strings.Contains(err.Error(), "sites[0].lost_after") {
			t.Errorf("lost_after %s: %v", bad, err)
		}
	}
}

func TestGangEndpoint(t *testing.T) {
	kube := strings.Replace(good, "  ownership: self-built\n", "  ownership: self-built\n  kind: kubernetes\n  kubeconfig: a.kubeconfig\n  gang_endpoint: {host: 10.0.0.5, ports: 31000-31999}\n", 1)
	n, err := Parse([]byte(kube), "t.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := n.Site("a"); s.GangEndpoint == nil || *s.GangEndpoint != (model.GangEndpoint{Host: "10.0.0.5", PortMin: 31000, PortMax: 31999}) {
		t.Fatalf("gang_endpoint parsed as %+v", s.GangEndpoint)
	}
	def := strings.Replace(kube, ", ports: 31000-31999", "", 1)
	if n, err := Parse([]byte(def), "t.yaml", nil); err != nil {
		t.Fatal(err)
	} else if s, _ := n.Site("a"); s.GangEndpoint.PortMin != 30000 || s.GangEndpoint.PortMax != 32767 {
		t.Errorf("default ports %+v, want Kubernetes' 30000-32767", s.GangEndpoint)
	}
	for bad, field := range map[string]string{
		"{host: 10.0.0.5, ports: 32000-31000}": "gang_endpoint.ports",
		"{host: 10.0.0.5, ports: 80}":          "gang_endpoint.ports",
		"{host: 'http://x', ports: 1-2}":       "gang_endpoint.host",
		"{ports: 1-2}":                         "gang_endpoint.host",
	} {
		spec := strings.Replace(kube, "{host: 10.0.0.5, ports: 31000-31999}", bad, 1)
		if _, err := Parse([]byte(spec), "t.yaml", nil); err == nil || !strings.Contains(err.Error(), "sites[0]."+field) {
			t.Errorf("gang_endpoint %s: %v, want an error on %s", bad, err, field)
		}
	}
	agents := strings.Replace(good, "  ownership: self-built\n", "  ownership: self-built\n  gang_endpoint: {host: 10.0.0.5}\n", 1)
	if _, err := Parse([]byte(agents), "t.yaml", nil); err == nil || !strings.Contains(err.Error(), "only a kubernetes site") {
		t.Errorf("gang_endpoint on an agent-run site: %v", err)
	}
}

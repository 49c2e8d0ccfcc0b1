package policy

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/network"
)

// quarantineNetwork: one self-built site, three H20 nodes and seven 910B4
// nodes of 8 cards each.
func quarantineNetwork() *network.Network {
	net := &network.Network{Name: "quarantine", Catalog: catalog.Default(),
		Sites: []model.Site{{ID: "s", Province: "Guizhou", Operator: "China Mobile", Ownership: model.SelfBuilt}}}
	for i := range 3 {
		net.Nodes = append(net.Nodes, model.Node{ID: model.NodeID(fmt.Sprintf("h20-%d", i)), Site: "s", Model: "nvidia-h20", Cards: 8})
	}
	for i := range 7 {
		net.Nodes = append(net.Nodes, model.Node{ID: model.NodeID(fmt.Sprintf("dom-%d", i)), Site: "s", Model: "huawei-ascend-910b4", Cards: 8})
	}
	return net
}

func gang(id string, class model.Classification, parts ...model.Assignment) Running {
	j := &model.Job{ID: model.JobID(id), Tenant: "priv", Kind: model.Gang, Workers: len(parts), CardsPerWorker: len(parts[0].Cards), Classification: class}
	for i := range parts {
		parts[i].Worker = i
	}
	return Running{Job: j, Tenant: privTenant, Placement: &model.Placement{Job: j.ID, Assignments: parts}}
}

func on(node model.NodeID, cards ...int) model.Assignment {
	return model.Assignment{Node: node, Cards: cards}
}

// TestQuarantineScenario: an evict advisory against the model carrying 30%
// of the running work, for sensitive jobs. Exactly the sensitive jobs on
// it must move (a gang whole, even where only one worker is on H20); the
// public, internal and critical-infrastructure jobs on it and every job
// elsewhere stay; new sensitive work keeps off it. Lifting the advisory
// leaves nothing to move and lets sensitive work return.
func TestQuarantineScenario(t *testing.T) {
	net := quarantineNetwork()
	frac := gang("s3", model.Sensitive, model.Assignment{Node: "h20-2", Cards: []int{4}, ShareMilli: 500})
	frac.Job.Kind, frac.Job.CardsPerWorker, frac.Job.ShareMilli = model.Inference, 0, 500
	run := []Running{
		gang("g1", model.Sensitive, on("h20-0", 0, 1, 2, 3), on("h20-1", 0, 1, 2, 3)),
		gang("g2", model.Sensitive, on("h20-1", 4, 5, 6, 7), on("dom-0", 0, 1, 2, 3)),
		gang("p1", model.Public, on("h20-0", 4, 5, 6, 7)),
		gang("i1", model.Internal, on("h20-2", 0, 1, 2, 3)),
		frac,
		gang("c1", model.CriticalInfrastructure, on("h20-2", 5, 6, 7)),
		gang("d0", model.Public, on("dom-0", 4, 5, 6, 7)),
	}
	for i := 1; i < 7; i++ {
		class := model.Sensitive
		if i%2 == 0 {
			class = model.Public
		}
		run = append(run, gang(fmt.Sprintf("d%d", i), class, on(model.NodeID(fmt.Sprintf("dom-%d", i)), 0, 1, 2, 3, 4, 5, 6, 7)))
	}
	var h20, total int64
	for _, r := range run {
		for i := range r.Placement.Assignments {
			a := &r.Placement.Assignments[i]
			total += assignmentMilli(a)
			if a.Node[:3] == "h20" {
				h20 += assignmentMilli(a)
			}
		}
	}
	if share := h20 * 1000 / total; share < 280 || share > 320 {
		t.Fatalf("H20 carries %d‰ of the running cards; the scenario wants about 30%%", share)
	}

	e := NewEngine(nil)
	if err := e.Replace([]byte("version: 1\nrules: [{id: R1, match: {tenant_class: [foreign]}, effect: require, require: {origin: domestic}}]\n")); err != nil {
		t.Fatal(err)
	}
	if vs := e.Violations(net, run, nil, 50); len(vs) != 0 {
		t.Fatalf("before the advisory: %+v", vs)
	}

	if _, err := e.File(Advisory{ID: "ADV-H20", Models: []string{"H20"}, Classes: []model.Classification{model.Sensitive},
		Severity: Critical, Action: Evict, Filed: 100, FiledBy: "regulator-desk", Summary: "H20 under security review"}); err != nil {
		t.Fatal(err)
	}
	vs := e.Violations(net, run, nil, 100)
	type moved struct {
		job   model.JobID
		nodes []model.NodeID
		milli int64
	}
	var got []moved
	for _, v := range vs {
		if v.Rule != "ADV-H20" || v.Source != "advisory" || v.Classification != model.Sensitive {
			t.Errorf("violation %+v", v)
		}
		got = append(got, moved{v.Job, v.Nodes, v.CardsMilli})
	}
	want := []moved{
		{"g1", []model.NodeID{"h20-0", "h20-1"}, 8000},
		{"g2", []model.NodeID{"h20-1"}, 4000}, // the whole gang moves; only this worker was on H20
		{"s3", []model.NodeID{"h20-2"}, 500},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("to move: %+v\nwant     %+v", got, want)
	}

	// Deterministic whatever the input order.
	rng := rand.New(rand.NewPCG(1, 2))
	for range 5 {
		shuffled := append([]Running(nil), run...)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		if again := e.Violations(net, shuffled, nil, 100); !reflect.DeepEqual(again, vs) {
			t.Fatal("violations depend on the order of the running list")
		}
	}

	// New placements: sensitive work keeps off H20, other work may use it.
	h20Site, h20Node, h20Model := at(t, net, "h20-0")
	domSite, domNode, domModel := at(t, net, "dom-3")
	sens, pub := testJob("new-s", "priv", model.Sensitive), testJob("new-p", "priv", model.Public)
	f := e.For(privTenant)
	if ok, rule := f.Allow(sens, h20Site, h20Node, h20Model); ok || rule != "ADV-H20" {
		t.Errorf("new sensitive job on H20: %v %q", ok, rule)
	}
	if ok, _ := f.Allow(sens, domSite, domNode, domModel); !ok {
		t.Error("new sensitive job on domestic capacity denied")
	}
	if ok, _ := f.Allow(pub, h20Site, h20Node, h20Model); !ok {
		t.Error("new public job on H20 denied")
	}
	report := Compliance(net, e.Snapshot(), run, nil, 100)
	if len(report.Violations) != 3 || report.Advisories[0].Cards != 24 || report.Advisories[0].RunningJobs != 3 {
		t.Errorf("report: %d violations, advisories %+v", len(report.Violations), report.Advisories)
	}

	if _, err := e.Lift("ADV-H20", 200, "regulator-desk"); err != nil {
		t.Fatal(err)
	}
	if vs := e.Violations(net, run, nil, 200); len(vs) != 0 {
		t.Errorf("after lifting: %+v", vs)
	}
	if ok, _ := e.For(privTenant).Allow(sens, h20Site, h20Node, h20Model); !ok {
		t.Error("after lifting, sensitive work may return to H20")
	}
	if r := Compliance(net, e.Snapshot(), run, nil, 200); len(r.Violations) != 0 || len(r.Advisories) != 0 {
		t.Errorf("after lifting the report shows %d violations, %d advisories", len(r.Violations), len(r.Advisories))
	}
}

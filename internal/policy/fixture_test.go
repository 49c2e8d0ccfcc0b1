package policy

import (
	"testing"

	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/network"
)

// The test network, small enough to sum by hand:
//
//	site  province  operator       ownership   nodes (8 cards unless noted)
//	gy    Guizhou   China Mobile   self-built  gy-a1 910B4 fw 24.1.2, gy-a2 910B4 fw 23.0.3,
//	                                           gy-m1 MLU370-X8, gy-b1 910B3 (no FP16 figure,
//	                                           no firmware label), gy-h1 H20
//	sh    Shanghai  China Telecom  leased      sh-h1 H20, sh-a1 910B4 fw 24.1.0
//	bj    Beijing   China Unicom   self-built  bj-c1 MLU370-X8 (4 cards)
//
// FP16 per card: 910B4 280,000 GFLOPS; MLU370-X8 96,000; H20 148,000.
func testNetwork(t testing.TB) *network.Network {
	t.Helper()
	fw := func(v string) map[string]string { return map[string]string{LabelFirmware: v} }
	return &network.Network{
		Name:    "test",
		Catalog: catalog.Default(),
		Sites: []model.Site{
			{ID: "gy", Name: "Gui'an", Province: "Guizhou", Operator: "China Mobile", Ownership: model.SelfBuilt},
			{ID: "sh", Name: "Lingang", Province: "Shanghai", Operator: "China Telecom", Ownership: model.Leased},
			{ID: "bj", Name: "Yizhuang", Province: "Beijing", Operator: "China Unicom", Ownership: model.SelfBuilt},
		},
		Nodes: []model.Node{
			{ID: "gy-a1", Site: "gy", Model: "huawei-ascend-910b4", Cards: 8, Labels: fw("24.1.2")},
			{ID: "gy-a2", Site: "gy", Model: "huawei-ascend-910b4", Cards: 8, Labels: fw("23.0.3")},
			{ID: "gy-m1", Site: "gy", Model: "cambricon-mlu370-x8", Cards: 8},
			{ID: "gy-b1", Site: "gy", Model: "huawei-ascend-910b3", Cards: 8},
			{ID: "gy-h1", Site: "gy", Model: "nvidia-h20", Cards: 8, Labels: map[string]string{LabelDriver: "535.104.05"}},
			{ID: "sh-h1", Site: "sh", Model: "nvidia-h20", Cards: 8},
			{ID: "sh-a1", Site: "sh", Model: "huawei-ascend-910b4", Cards: 8, Labels: fw("24.1.0")},
			{ID: "bj-c1", Site: "bj", Model: "cambricon-mlu370-x8", Cards: 4},
		},
	}
}

var (
	govTenant     = &model.Tenant{ID: "gov", Class: model.Government}
	soeTenant     = &model.Tenant{ID: "soe", Class: model.StateOwned}
	privTenant    = &model.Tenant{ID: "priv", Class: model.Private}
	foreignTenant = &model.Tenant{ID: "frn", Class: model.Foreign}
)

func tenantByID(id model.TenantID) *model.Tenant {
	for _, t := range []*model.Tenant{govTenant, soeTenant, privTenant, foreignTenant} {
		if t.ID == id {
			return t
		}
	}
	return nil
}

func testJob(id string, tenant model.TenantID, class model.Classification) *model.Job {
	return &model.Job{ID: model.JobID(id), Tenant: tenant, Kind: model.Gang, Workers: 1, CardsPerWorker: 8, Classification: class}
}

// at resolves a node of the test network into the Evaluate arguments.
func at(t testing.TB, net *network.Network, node model.NodeID) (*model.Site, *model.Node, *catalog.Model) {
	t.Helper()
	c, problem := newIndex(net, nil).card(node)
	if problem != "" {
		t.Fatal(problem)
	}
	return c.site, c.node, c.m
}

// running places a job's workers, whole nodes of cards each, on nodes.
func running(job *model.Job, nodes ...model.NodeID) Running {
	p := &model.Placement{Job: job.ID}
	for i, n := range nodes {
		p.Assignments = append(p.Assignments, model.Assignment{Worker: i, Node: n, Cards: []int{0, 1, 2, 3, 4, 5, 6, 7}})
	}
	return Running{Job: job, Tenant: tenantByID(job.Tenant), Placement: p}
}

func mustEngine(t testing.TB, doc string) *Engine {
	t.Helper()
	e := NewEngine(nil)
	if doc != "" {
		if err := e.Replace([]byte(doc)); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

package policy

import (
	"fmt"
	"testing"

	"github.com/suanli/suanli/internal/model"
)

// BenchmarkAllow is the scheduler's hot path: one policy check per
// candidate card, against the national-baseline example plus two
// advisories.
func BenchmarkAllow(b *testing.B) {
	net := testNetwork(b)
	e := NewEngine(nil)
	p, err := LoadFile(examplesDir+"/national-baseline.yaml", nil)
	if err != nil {
		b.Fatal(err)
	}
	e.cur.Load().policy = p
	for _, a := range []Advisory{
		{ID: "A1", Models: []string{"H20"}, Classes: []model.Classification{model.Sensitive}, Severity: High, Action: Evict},
		{ID: "A2", Vendor: "Huawei", Firmware: "<24", Severity: Low, Action: Drain},
	} {
		if _, err := e.File(a); err != nil {
			b.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name  string
		class model.Classification
		node  model.NodeID
	}{{"allowed", model.Sensitive, "gy-a1"}, {"denied-by-rule", model.Sensitive, "gy-h1"}, {"denied-by-advisory", model.Public, "gy-a2"}} {
		site, node, m := at(b, net, tc.node)
		job := testJob("j", "priv", tc.class)
		f := e.For(privTenant)
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				f.Allow(job, site, node, m)
			}
		})
	}
}

// BenchmarkCompliance: the report over a network of the given size with
// every card running a job.
func BenchmarkCompliance(b *testing.B) {
	for _, nodes := range []int{1000, 10000} {
		net := quarantineNetwork()
		net.Nodes = nil
		var run []Running
		for i := range nodes {
			id := model.NodeID(fmt.Sprintf("n%d", i))
			m := "huawei-ascend-910b4"
			if i%3 == 0 {
				m = "nvidia-h20"
			}
			net.Nodes = append(net.Nodes, model.Node{ID: id, Site: "s", Model: m, Cards: 8})
			run = append(run, gang(fmt.Sprintf("j%d", i), model.Sensitive, on(id, 0, 1, 2, 3, 4, 5, 6, 7)))
		}
		e := NewEngine(nil)
		if _, err := e.File(Advisory{ID: "A1", Models: []string{"H20"}, Severity: High, Action: Evict}); err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("nodes=%d", nodes), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Compliance(net, e.Snapshot(), run, nil, 0)
			}
		})
	}
}

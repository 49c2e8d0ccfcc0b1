package sched

import (
	"errors"
	"testing"

	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/network"
)

// hostNet is one site with two pools of 8-card nodes: "lean" nodes with
// 16 cores and 64 GiB, "rich" ones with the defaults (192 cores, 1536 GiB).
func hostNet(t *testing.T) *network.Network {
	t.Helper()
	spec := network.Spec{Name: "host", Sites: []network.SiteSpec{{ID: "s", Region: "North", Operator: "op", Ownership: "self-built",
		Pools: []network.PoolSpec{
			{Model: "nvidia-a800", Nodes: 2, CardsPerNode: 8, NodesPerDomain: 1, CPUCores: 16, MemGiB: 64},
			{Model: "nvidia-a800", Nodes: 1, CardsPerNode: 8, NodesPerDomain: 1},
		}}}}
	net, err := spec.Expand(defaultCatalog())
	if err != nil {
		t.Fatal(err)
	}
	return net
}

func TestHostFilterAndExplain(t *testing.T) {
	net := hostNet(t)
	rich := net.Nodes[2].ID
	for _, tc := range []struct {
		name     string
		cpu, mem int64
		want     model.NodeID // "" when unplaceable
		reason   Reason
	}{
		{"fits every node", 8000, 32 << 10, "*", ""},
		{"CPU only on the rich node", 32000, 0, rich, ""},
		{"memory only on the rich node", 0, 128 << 10, rich, ""},
		{"no node has the CPU", 500_000, 0, "", CPUExhausted},
		{"no node has the memory", 1000, 2 << 20, "", HostMemoryExhausted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewCluster(net)
			for _, shape := range []model.Job{
				{ID: "j", Tenant: "t", Kind: model.Batch, Workers: 1, CardsPerWorker: 2, CPUMilli: tc.cpu, HostMemMiB: tc.mem},
				{ID: "f", Tenant: "t", Kind: model.Inference, Workers: 1, ShareMilli: 300, CPUMilli: tc.cpu, HostMemMiB: tc.mem},
				{ID: "g", Tenant: "t", Kind: model.Gang, Workers: 2, CardsPerWorker: 4, CPUMilli: tc.cpu, HostMemMiB: tc.mem},
			} {
				d := Schedule(c, &shape, Input{}, Config{})
				if tc.want == "" {
					if d.Placed() {
						t.Fatalf("%s placed on %s, want unplaced", shape.ID, d.Placement.Assignments[0].Node)
					}
					found := false
					for _, r := range d.Explanation.Rejections {
						found = found || (r.Reason == tc.reason && r.Count > 0)
					}
					if !found {
						t.Fatalf("%s: rejections %+v lack %s", shape.ID, d.Explanation.Rejections, tc.reason)
					}
					continue
				}
				if !d.Placed() {
					t.Fatalf("%s unplaced: %s", shape.ID, d.Explanation.Summary)
				}
				if shape.ID != "g" && tc.want != "*" && d.Placement.Assignments[0].Node != tc.want {
					t.Fatalf("%s placed on %s, want %s", shape.ID, d.Placement.Assignments[0].Node, tc.want)
				}
				for _, a := range d.Placement.Assignments {
					if a.CPUMilli != tc.cpu || a.HostMemMiB != tc.mem {
						t.Fatalf("%s: assignment holds %d milli-CPU %d MiB", shape.ID, a.CPUMilli, a.HostMemMiB)
					}
				}
			}
		})
	}
}

// TestHostApplyRejectsOvercommit: Apply refuses, changing nothing, a
// placement beyond a node's free CPU; Release refuses to return more than
// is held.
func TestHostApplyRejectsOvercommit(t *testing.T) {
	net := hostNet(t)
	c := NewCluster(net)
	lean := net.Nodes[0].ID
	ok := model.Placement{Job: "a", Assignments: []model.Assignment{{Node: lean, Cards: []int{0}, CPUMilli: 12000, HostMemMiB: 1024}}}
	if err := c.Apply(ok); err != nil {
		t.Fatal(err)
	}
	over := model.Placement{Job: "b", Assignments: []model.Assignment{{Node: lean, Cards: []int{1}, CPUMilli: 8000}}}
	if err := c.Apply(over); !errors.Is(err, ErrHostExhausted) {
		t.Fatalf("over-committing CPU: %v, want ErrHostExhausted", err)
	}
	if c.cpuFree[0] != 4000 || c.free[0] != 7 {
		t.Fatalf("a refused placement changed the node: %d milli-CPU, %d cards free", c.cpuFree[0], c.free[0])
	}
	bad := model.Placement{Job: "a", Assignments: []model.Assignment{{Node: lean, Cards: []int{0}, CPUMilli: 13000, HostMemMiB: 1024}}}
	if err := c.Release(bad); err == nil {
		t.Fatal("releasing more CPU than held was accepted")
	}
	if err := c.Release(ok); err != nil || c.cpuFree[0] != 16000 {
		t.Fatalf("release: %v, %d milli-CPU free", err, c.cpuFree[0])
	}
	neg := model.Placement{Job: "c", Assignments: []model.Assignment{{Node: lean, Cards: []int{0}, CPUMilli: -1}}}
	if err := c.Apply(neg); err == nil {
		t.Fatal("a negative CPU request was accepted")
	}
}

// FullAt: a node is full only when no job could be placed on it, not
// even a share of a card.
func TestFullAt(t *testing.T) {
	net := hostNet(t)
	c := NewCluster(net)
	id := net.Nodes[2].ID // the rich node: host room for everything
	n, _ := c.NodeIndex(id)
	if c.FullAt(n) {
		t.Fatal("an empty node is full")
	}
	whole := model.Placement{Job: "w", Assignments: []model.Assignment{{Node: id, Cards: []int{0, 1, 2, 3, 4, 5, 6}}}}
	if err := c.Apply(whole); err != nil {
		t.Fatal(err)
	}
	if c.FullAt(n) {
		t.Fatal("a node with one free card is full")
	}
	share := model.Placement{Job: "s", Assignments: []model.Assignment{{Node: id, Cards: []int{7}, ShareMilli: 600}}}
	if err := c.Apply(share); err != nil {
		t.Fatal(err)
	}
	if c.FullAt(n) {
		t.Fatal("a node with 400‰ of a card left is full")
	}
	rest := model.Placement{Job: "r", Assignments: []model.Assignment{{Node: id, Cards: []int{7}, ShareMilli: 400}}}
	if err := c.Apply(rest); err != nil {
		t.Fatal(err)
	}
	if !c.FullAt(n) {
		t.Fatal("a node with every card taken is not full")
	}
	if err := c.Release(share); err != nil || c.FullAt(n) {
		t.Fatalf("a share given back: %v, full %v", err, c.FullAt(n))
	}
}

package sched

import (
	"fmt"
	"testing"

	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/network"
)

// fitNet is one site with four 8-card nodes, each its own domain.
func fitNet(t *testing.T) *network.Network {
	t.Helper()
	spec := network.Spec{Name: "fit", Sites: []network.SiteSpec{{ID: "s", Region: "North", Operator: "op", Ownership: "self-built",
		Pools: []network.PoolSpec{{Model: "nvidia-a800", Nodes: 4, CardsPerNode: 8, NodesPerDomain: 1}}}}}
	net, err := spec.Expand(defaultCatalog())
	if err != nil {
		t.Fatal(err)
	}
	return net
}

// fill takes the first `cards` cards of node i.
func fill(t *testing.T, c *Cluster, net *network.Network, i, cards int) {
	t.Helper()
	a := model.Assignment{Node: net.Nodes[i].ID, Model: "nvidia-a800"}
	for k := range cards {
		a.Cards = append(a.Cards, k)
	}
	if err := c.Apply(model.Placement{Job: model.JobID(fmt.Sprint("fill-", i)), Assignments: []model.Assignment{a}}); err != nil {
		t.Fatal(err)
	}
}

func TestFragPolicies(t *testing.T) {
	net := fitNet(t)
	c := NewCluster(net)
	fill(t, c, net, 1, 2) // node 1: 6 free
	fill(t, c, net, 2, 6) // node 2: 2 free
	place := func(p FragPolicy, id string) model.NodeID {
		job := model.Job{ID: model.JobID(id), Tenant: "t", Kind: model.Batch, Workers: 1, CardsPerWorker: 2}
		d := Schedule(c, &job, Input{}, Config{Weights: Weights{Frag: 1}, FragPolicy: p})
		if !d.Placed() {
			t.Fatalf("%s: %s unplaced: %s", p, id, d.Explanation.Summary)
		}
		return d.Placement.Assignments[0].Node
	}
	// Best fit fills the node with exactly the two cards free; so does
	// FGD's measure (it leaves no fragment there).
	for _, p := range []FragPolicy{FragBestFit, FragFGD, FragSuanli} {
		if got := place(p, "j"); got != net.Nodes[2].ID {
			t.Errorf("%s placed 2 cards on %s, want %s (the only node they fill)", p, got, net.Nodes[2].ID)
		}
	}
	// Random: deterministic per job, spread over the nodes across jobs.
	seen := map[model.NodeID]int{}
	for i := range 200 {
		id := fmt.Sprint("r", i)
		n := place(FragRandom, id)
		if again := place(FragRandom, id); again != n {
			t.Fatalf("random placed %s on %s, then on %s", id, n, again)
		}
		seen[n]++
	}
	if len(seen) < 3 {
		t.Errorf("random chose only %v over 200 jobs", seen)
	}
	// A share: best fit packs it onto the fullest node.
	job := model.Job{ID: "s", Tenant: "t", Kind: model.Inference, Workers: 1, ShareMilli: 300}
	d := Schedule(c, &job, Input{}, Config{Weights: Weights{Frag: 1}, FragPolicy: FragBestFit})
	if !d.Placed() || d.Placement.Assignments[0].Node != net.Nodes[2].ID {
		t.Errorf("bestfit share: %+v, want node %s", d.Placement, net.Nodes[2].ID)
	}
}

func TestParseFragPolicy(t *testing.T) {
	for _, name := range []string{"", "suanli", "fgd", "bestfit", "random"} {
		if _, err := ParseFragPolicy(name); err != nil {
			t.Errorf("%q: %v", name, err)
		}
	}
	if _, err := ParseFragPolicy("dotprod"); err == nil {
		t.Error("dotprod accepted")
	}
}

package sched

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/suanli/suanli/internal/model"
)

// oracleFeasible enumerates every assignment of the gang's workers to nodes
// (nodes^workers) and reports whether one respects free cards, the models,
// residency, and the topology scope.
func oracleFeasible(c *Cluster, j *model.Job) bool {
	type node struct {
		free                int
		model, domain, site string
	}
	var nodes []node
	for i := range c.st.net.Nodes {
		n := &c.st.net.Nodes[i]
		free, healthy, _ := c.NodeFree(n.ID)
		if !healthy || (len(j.Models) > 0 && !slices.Contains(j.Models, n.Model)) || (len(j.Sites) > 0 && !slices.Contains(j.Sites, n.Site)) {
			continue
		}
		nodes = append(nodes, node{free, n.Model, string(n.Domain) + "@" + string(n.Site), string(n.Site)})
	}
	W, C := j.Workers, j.CardsPerWorker
	pick := make([]int, W)
	used := make([]int, len(nodes))
	// compatible says whether node p may join a gang whose first worker is
	// on node f.
	compatible := func(f, p int) bool {
		a, n := nodes[f], nodes[p]
		if !j.Mixed && n.model != a.model || !j.CrossSite && n.site != a.site {
			return false
		}
		if j.TopologyRequired {
			switch j.Topology {
			case model.TopoNode:
				return p == f
			case model.TopoDomain:
				return n.domain == a.domain
			case model.TopoSite:
				return n.site == a.site
			}
		}
		return true
	}
	var try func(w int) bool
	try = func(w int) bool {
		if w == W {
			return true
		}
		start := 0
		if w > 0 {
			start = pick[w-1] // workers are interchangeable: non-decreasing picks
		}
		for p := start; p < len(nodes); p++ {
			if used[p]+C > nodes[p].free || w > 0 && !compatible(pick[0], p) {
				continue
			}
			pick[w] = p
			used[p] += C
			ok := try(w + 1)
			used[p] -= C
			if ok {
				return true
			}
		}
		return false
	}
	return len(nodes) > 0 && try(0)
}

func TestOracleGangPacking(t *testing.T) {
	for seed := range uint64(300) {
		rng := rand.New(rand.NewPCG(seed, 11))
		net := randomNet(t, rng, 3, 4)
		c := NewCluster(net)
		// Fill some cards at random.
		for i := range net.Nodes {
			n := &net.Nodes[i]
			var cards []int
			for k := range n.Cards {
				if rng.IntN(3) == 0 {
					cards = append(cards, k)
				}
			}
			if len(cards) > 0 {
				if err := c.Apply(model.Placement{Job: "fill", Assignments: []model.Assignment{{Node: n.ID, Cards: cards}}}); err != nil {
					t.Fatal(err)
				}
			}
			if rng.IntN(10) == 0 {
				c.SetNodeHealthy(n.ID, false)
			}
		}
		for k := range 8 {
			j := model.Job{ID: model.JobID(fmt.Sprintf("g%d", k)), Tenant: "t", Kind: model.Gang,
				Workers: 2 + rng.IntN(3), CardsPerWorker: 1 + rng.IntN(3),
				Topology:         []model.Topology{model.TopoNone, model.TopoNode, model.TopoDomain, model.TopoSite}[rng.IntN(4)],
				TopologyRequired: rng.IntN(2) == 0, CrossSite: rng.IntN(3) == 0, Mixed: rng.IntN(3) == 0}
			if rng.IntN(3) == 0 {
				j.Models = []string{tinyModels[rng.IntN(len(tinyModels))]}
			}
			want := oracleFeasible(c, &j)
			d := Schedule(c, &j, Input{}, Config{})
			if want && d.Placement == nil {
				t.Fatalf("seed %d: oracle places %+v, Schedule does not: %s", seed, j, d.Explanation.Summary)
			}
			if !want && d.Placement != nil {
				t.Fatalf("seed %d: Schedule placed %+v which the oracle finds infeasible: %+v", seed, j, d.Placement)
			}
		}
	}
}

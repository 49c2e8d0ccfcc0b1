package sched

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/network"
)

// defaultCatalog parses the embedded catalog once for all tests.
var defaultCatalog = sync.OnceValue(catalog.Default)

var tinyModels = []string{"nvidia-a800", "huawei-ascend-910b4", "cambricon-mlu370-x8", "metax-c500"}

// randomNet builds a small random network: 1-3 sites of 1-2 pools, nodes of
// 1-maxCards cards, domains of 1-3 nodes.
func randomNet(t testing.TB, rng *rand.Rand, maxNodes, maxCards int) *network.Network {
	spec := network.Spec{Name: "random"}
	sites := 1 + rng.IntN(3)
	for i := range sites {
		ss := network.SiteSpec{ID: fmt.Sprintf("s%d", i), Region: []string{"North", "South"}[i%2], Operator: "op",
			Ownership: []string{"self-built", "leased"}[rng.IntN(2)], PowerPrice: 0.3 + float64(rng.IntN(5))/10}
		for p := range 1 + rng.IntN(2) {
			ss.Pools = append(ss.Pools, network.PoolSpec{
				Model: tinyModels[(i+p+rng.IntN(2))%len(tinyModels)], Nodes: 1 + rng.IntN(maxNodes),
				CardsPerNode: 1 + rng.IntN(maxCards), NodesPerDomain: 1 + rng.IntN(3),
			})
		}
		spec.Sites = append(spec.Sites, ss)
	}
	net, err := spec.Expand(defaultCatalog())
	if err != nil {
		t.Fatal(err)
	}
	return net
}

func randomJob(rng *rand.Rand, i int, net *network.Network) model.Job {
	j := model.Job{ID: model.JobID(fmt.Sprintf("j%d", i)), Tenant: "t"}
	switch rng.IntN(4) {
	case 0:
		j.Kind, j.Workers, j.CardsPerWorker = model.Batch, 1, 1+rng.IntN(4)
	case 1:
		j.Kind, j.Workers = model.Inference, 1+rng.IntN(3)
		if rng.IntN(2) == 0 {
			j.ShareMilli, j.MemMiB = 100*(1+rng.IntN(9)), int64(1024*rng.IntN(20))
		} else {
			j.CardsPerWorker = 1 + rng.IntN(2)
		}
	default:
		j.Kind, j.Workers = model.Gang, 1+rng.IntN(4)
		if rng.IntN(4) == 0 {
			j.ComputeGFLOPS = int64(100_000 * (1 + rng.IntN(20)))
		} else {
			j.CardsPerWorker = 1 + rng.IntN(3)
		}
		j.Topology = []model.Topology{model.TopoNone, model.TopoNode, model.TopoDomain, model.TopoSite}[rng.IntN(4)]
		j.TopologyRequired = rng.IntN(2) == 0
		j.CrossSite = rng.IntN(3) == 0
		j.Mixed = rng.IntN(3) == 0
	}
	if rng.IntN(4) == 0 {
		j.Models = []string{tinyModels[rng.IntN(len(tinyModels))], tinyModels[rng.IntN(len(tinyModels))]}
	}
	if rng.IntN(6) == 0 {
		j.Sites = []model.SiteID{net.Sites[rng.IntN(len(net.Sites))].ID}
	}
	if rng.IntN(8) == 0 {
		j.PyTorch = []string{"torch_npu"}
	}
	return j
}

// checkPlacement verifies a placement against the job's shape and rules.
func checkPlacement(t *testing.T, c *Cluster, j *model.Job, p *model.Placement) {
	t.Helper()
	if len(p.Assignments) != j.Workers {
		t.Fatalf("job %s: %d assignments for %d workers", j.ID, len(p.Assignments), j.Workers)
	}
	nodes, domains, sites, models := map[model.NodeID]bool{}, map[model.DomainID]bool{}, map[model.SiteID]bool{}, map[string]bool{}
	for w, a := range p.Assignments {
		if a.Worker != w {
			t.Fatalf("job %s: worker numbers %v", j.ID, p.Assignments)
		}
		n, _ := c.st.net.Node(a.Node)
		nodes[a.Node], domains[n.Domain], sites[n.Site], models[a.Model] = true, true, true, true
		if j.Fractional() {
			if len(a.Cards) != 1 || a.ShareMilli != j.ShareMilli || a.MemMiB != j.MemMiB {
				t.Fatalf("job %s: fractional assignment %+v", j.ID, a)
			}
		} else if j.CardsPerWorker > 0 && len(a.Cards) != j.CardsPerWorker {
			t.Fatalf("job %s: worker %d has %d cards, want %d", j.ID, w, len(a.Cards), j.CardsPerWorker)
		}
		if len(j.Models) > 0 && !slices.Contains(j.Models, a.Model) {
			t.Fatalf("job %s: model %s not among %v", j.ID, a.Model, j.Models)
		}
		if len(j.Sites) > 0 && !slices.Contains(j.Sites, n.Site) {
			t.Fatalf("job %s: site %s outside %v", j.ID, n.Site, j.Sites)
		}
	}
	if j.Kind == model.Gang && !j.CrossSite && len(sites) > 1 {
		t.Fatalf("job %s: gang spans sites %v", j.ID, sites)
	}
	if j.TopologyRequired && j.Topology == model.TopoNode && len(nodes) > 1 || j.Kind == model.Batch && len(nodes) > 1 {
		t.Fatalf("job %s: node-scoped job on %d nodes", j.ID, len(nodes))
	}
	if j.TopologyRequired && j.Topology == model.TopoDomain && len(domains) > 1 {
		t.Fatalf("job %s: domain-scoped job on %d domains", j.ID, len(domains))
	}
	if j.Kind == model.Gang && !j.Mixed && len(models) > 1 {
		t.Fatalf("job %s: %d models without mixed", j.ID, len(models))
	}
	if j.ComputeGFLOPS > 0 {
		eff := int64(1000)
		if len(models) > 1 {
			eff = 950
		}
		if p.GFLOPS*1000 < j.ComputeGFLOPS*eff*1000/1000 && p.GFLOPS < j.ComputeGFLOPS {
			t.Fatalf("job %s: %d GFLOPS placed for a request of %d", j.ID, p.GFLOPS, j.ComputeGFLOPS)
		}
	}
	if j.Kind == model.Gang && len(models) > 1 {
		sum := 0
		for _, a := range p.Assignments {
			sum += a.WorkShareMilli
		}
		if sum != 1000 {
			t.Fatalf("job %s: work shares sum to %d", j.ID, sum)
		}
	}
}

// checkIndexes recomputes every index from the cards and compares.
func checkIndexes(t *testing.T, c *Cluster) {
	t.Helper()
	fresh := NewCluster(c.st.net)
	fresh.st = c.st
	copy(fresh.usedMilli, c.usedMilli)
	copy(fresh.usedMiB, c.usedMiB)
	for n := range c.st.nodes {
		fresh.index(int32(n), -1)
		fresh.healthy[n] = c.healthy[n]
		fresh.recount(int32(n))
		fresh.index(int32(n), +1)
	}
	for k := range c.usedMilli {
		if c.usedMilli[k] < 0 || c.usedMilli[k] > 1000 || c.usedMiB[k] < 0 {
			t.Fatalf("card %d over-committed: %d‰ %d MiB", k, c.usedMilli[k], c.usedMiB[k])
		}
		m := c.st.models[c.st.nodes[c.cardNode(k)].model]
		if m.memMiB > 0 && c.usedMiB[k] > m.memMiB {
			t.Fatalf("card %d memory over-committed: %d of %d MiB", k, c.usedMiB[k], m.memMiB)
		}
	}
	if !slices.Equal(fresh.free, c.free) || !slices.Equal(fresh.partial, c.partial) || !slices.Equal(fresh.domHist, c.domHist) ||
		!slices.Equal(fresh.smHist, c.smHist) || !slices.Equal(fresh.domFree, c.domFree) || !slices.Equal(fresh.modFree, c.modFree) ||
		!slices.Equal(fresh.smFree, c.smFree) {
		t.Fatal("indexes drifted from the cards")
	}
	for m := range c.byFree {
		for f := range c.byFree[m] {
			if !slices.Equal(c.byFree[m][f], fresh.byFree[m][f]) {
				t.Fatalf("byFree[%d][%d] drifted", m, f)
			}
		}
		for b := range c.shareSet[m] {
			if !slices.Equal(c.shareSet[m][b], fresh.shareSet[m][b]) {
				t.Fatalf("shareSet[%d][%d] drifted", m, b)
			}
		}
	}
}

func (c *Cluster) cardNode(k int) int {
	for n := range c.st.nodes {
		ni := &c.st.nodes[n]
		if k >= int(ni.cardOff) && k < int(ni.cardOff+ni.cards) {
			return n
		}
	}
	return -1
}

func TestPropertiesRandomClusters(t *testing.T) {
	for seed := range uint64(40) {
		rng := rand.New(rand.NewPCG(seed, 7))
		net := randomNet(t, rng, 6, 8)
		c := NewCluster(net)
		var live []model.Placement
		for i := range 60 {
			j := randomJob(rng, i, net)
			if seed%2 == 1 { // host requests that bind: a node has 192 cores, 1536 GiB
				j.CPUMilli, j.HostMemMiB = int64(rng.IntN(5))*24_000, int64(rng.IntN(5))*256<<10
			}
			in := Input{Seed: uint64(rng.IntN(3))}
			d := Schedule(c, &j, in, Config{})
			b1, _ := json.Marshal(d)
			b2, _ := json.Marshal(Schedule(c.Clone(), &j, in, Config{}))
			b3, _ := json.Marshal(Schedule(c, &j, in, Config{}))
			if !bytes.Equal(b1, b2) || !bytes.Equal(b1, b3) {
				t.Fatalf("seed %d job %d: decisions differ:\n%s\n%s\n%s", seed, i, b1, b2, b3)
			}
			if d.Placement == nil {
				if len(d.Explanation.Rejections) == 0 || d.Explanation.Summary == "" {
					t.Fatalf("seed %d job %d: unplaced without a reason: %s", seed, i, b1)
				}
			} else {
				checkPlacement(t, c, &j, d.Placement)
				for _, a := range d.Placement.Assignments {
					if a.CPUMilli != j.CPUMilli || a.HostMemMiB != j.HostMemMiB {
						t.Fatalf("seed %d job %d: worker %d holds %d milli-CPU %d MiB, the job asks %d and %d", seed, i, a.Worker, a.CPUMilli, a.HostMemMiB, j.CPUMilli, j.HostMemMiB)
					}
				}
				if err := c.Apply(*d.Placement); err != nil {
					t.Fatalf("seed %d job %d: %v", seed, i, err)
				}
				live = append(live, *d.Placement)
			}
			switch rng.IntN(6) {
			case 0:
				if len(live) > 0 {
					k := rng.IntN(len(live))
					if err := c.Release(live[k]); err != nil {
						t.Fatal(err)
					}
					live = slices.Delete(live, k, k+1)
				}
			case 1:
				c.SetNodeHealthy(net.Nodes[rng.IntN(len(net.Nodes))].ID, rng.IntN(2) == 0)
			}
			checkIndexes(t, c)
			checkHost(t, c, live)
		}
	}
}

func TestApplyRejectsOvercommit(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	net := randomNet(t, rng, 2, 4)
	c := NewCluster(net)
	n := net.Nodes[0]
	whole := model.Placement{Job: "a", Assignments: []model.Assignment{{Node: n.ID, Cards: []int{0}}}}
	if err := c.Apply(whole); err != nil {
		t.Fatal(err)
	}
	v := c.Version()
	for _, bad := range []model.Placement{
		whole,
		{Job: "b", Assignments: []model.Assignment{{Node: n.ID, Cards: []int{0}, ShareMilli: 1}}},
		{Job: "c", Assignments: []model.Assignment{{Node: "nope", Cards: []int{0}}}},
		{Job: "d", Assignments: []model.Assignment{{Node: n.ID, Cards: []int{n.Cards}}}},
		{Job: "e", Assignments: []model.Assignment{{Node: n.ID, Cards: []int{0}, Model: "other"}}},
	} {
		if err := c.Apply(bad); err == nil {
			t.Errorf("%s accepted", bad.Job)
		}
	}
	if n.Cards > 1 {
		half := model.Placement{Job: "f", Assignments: []model.Assignment{{Node: n.ID, Cards: []int{1}, ShareMilli: 600}}}
		if err := c.Apply(half); err != nil {
			t.Fatal(err)
		}
		if err := c.Apply(half); err == nil {
			t.Error("1200‰ on one card accepted")
		}
		// A placement that fails half-way leaves nothing behind.
		twice := model.Placement{Job: "g", Assignments: []model.Assignment{{Node: n.ID, Cards: []int{1}, ShareMilli: 300}, {Node: n.ID, Cards: []int{1}, ShareMilli: 300}}}
		if err := c.Apply(twice); err == nil {
			t.Error("two 300‰ shares on a card with 400‰ free accepted")
		}
		if u, _, _ := c.CardUsage(model.CardID{Node: n.ID, Index: 1}); u != 600 {
			t.Errorf("card 1 holds %d‰ after a rejected placement, want 600", u)
		}
		v++
	}
	if c.Version() != v {
		t.Errorf("version %d after rejected placements, want %d", c.Version(), v)
	}
	checkIndexes(t, c)
}

// checkHost verifies that no node's host CPU or memory is over-committed
// and that what is free is the capacity less what live placements hold.
func checkHost(t *testing.T, c *Cluster, live []model.Placement) {
	t.Helper()
	cpu := make([]int64, len(c.st.nodes))
	mem := make([]int64, len(c.st.nodes))
	for _, p := range live {
		for _, a := range p.Assignments {
			n := c.st.nodeIdx[a.Node]
			cpu[n] += a.CPUMilli
			mem[n] += a.HostMemMiB
		}
	}
	for n := range c.st.nodes {
		ni := &c.st.nodes[n]
		if c.cpuFree[n] < 0 || c.memFree[n] < 0 || c.cpuFree[n] != ni.cpuMilli-cpu[n] || c.memFree[n] != ni.memMiB-mem[n] {
			t.Fatalf("node %s: host free %d milli-CPU %d MiB of %d and %d, live placements hold %d and %d",
				ni.n.ID, c.cpuFree[n], c.memFree[n], ni.cpuMilli, ni.memMiB, cpu[n], mem[n])
		}
	}
}

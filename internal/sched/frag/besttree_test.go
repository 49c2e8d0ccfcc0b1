package frag

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestBestTreesMatchArgmax: on random workloads, with shuffled ranks, the
// trees answer every task as a scan of every node (argmax) does, for FGD,
// our policy and the baselines that score a node alone.
func TestBestTreesMatchArgmax(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	asked, updated := 0, 0
	for iter := range 12 {
		nodes, pods := randomWorkload(r)
		// Few shapes, so that they recur; one of them asks for a GPU, so
		// that the workload ends.
		pods = append(pods[:min(len(pods), 2+r.IntN(6))], TaskSpec{CPUMilli: 1000, MemMiB: 1024, NumGPU: 1, GPUMilli: 500})
		// Enough nodes that trees are updated, not rebuilt.
		for range 2 {
			for _, n := range slices.Clone(nodes) {
				n.Name = fmt.Sprintf("%s%d", n.Name, len(nodes))
				nodes = append(nodes, n)
			}
		}
		for _, name := range []string{FGD, Suanli, BestFit, DotProd, GpuPacking} {
			c, tasks, err := Setup(nodes, pods)
			if err != nil {
				t.Fatal(err)
			}
			r.Shuffle(len(c.Rank), func(i, j int) { c.Rank[i], c.Rank[j] = c.Rank[j], c.Rank[i] })
			pol, err := New(name, NewDistribution(tasks, DefaultCoverage, false), len(c.Nodes))
			if err != nil {
				t.Fatal(err)
			}
			var s scorer
			var best *bestTrees
			begin := func(*Task) {}
			switch p := pol.(type) {
			case *fgd:
				s, best, begin = p, &p.best, p.cache.begin
			case *scored:
				s, best = p.s, &p.best
			}
			rng := rand.New(rand.NewPCG(uint64(iter), 9))
			for k, tk := range Workload(tasks, c.CapacityMilli, 1.3, rng) {
				begin(&tk)
				want, wok := argmax(c, &tk, nil, s)
				tr := best.trees[tk]
				fresh := tr != nil && len(c.changed)-tr.synced <= len(c.Nodes)/4
				got, ok := best.choose(c, &tk, s)
				asked++
				if fresh && best.trees[tk] == tr {
					updated++
				}
				if ok != wok || got != want {
					t.Fatalf("%s iter %d task %d %+v: trees %+v %v, argmax %+v %v", name, iter, k, tk, got, ok, want, wok)
				}
				if ok {
					if got.GPUs == 0 && tk.NumGPU > 0 {
						got.GPUs = defaultGPUs(&c.Nodes[got.Node], &tk) // as scored.Choose does
					}
					if err := c.Apply(got, &tk); err != nil {
						t.Fatal(err)
					}
				}
			}
			if len(best.trees) == 0 {
				t.Fatalf("%s iter %d: no shape recurred", name, iter)
			}
		}
	}
	t.Logf("%d tasks asked, %d answered by updating a tree", asked, updated)
	if updated < asked/2 {
		t.Fatalf("%d of %d tasks answered by updating a tree", updated, asked)
	}
}

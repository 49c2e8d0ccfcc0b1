package frag

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestBestTreesMatchArgmax: on random workloads, with shuffled ranks, the
// trees answer every task as a scan of every node (argmax) does, for FGD
// and our policy.
func TestBestTreesMatchArgmax(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	asked, updated := 0, 0
	for iter := range 12 {
		nodes, pods := randomWorkload(r)
		pods = pods[:min(len(pods), 2+r.IntN(6))] // few shapes: they recur
		// Enough nodes that trees are updated, not rebuilt.
		for range 2 {
			for _, n := range slices.Clone(nodes) {
				n.Name = fmt.Sprintf("%s%d", n.Name, len(nodes))
				nodes = append(nodes, n)
			}
		}
		for _, name := range []string{FGD, Suanli} {
			c, tasks, err := Setup(nodes, pods)
			if err != nil {
				t.Fatal(err)
			}
			r.Shuffle(len(c.Rank), func(i, j int) { c.Rank[i], c.Rank[j] = c.Rank[j], c.Rank[i] })
			pol, err := New(name, NewDistribution(tasks, DefaultCoverage, false), len(c.Nodes))
			if err != nil {
				t.Fatal(err)
			}
			f := pol.(*fgd)
			rng := rand.New(rand.NewPCG(uint64(iter), 9))
			for k, tk := range Workload(tasks, c.CapacityMilli, 1.3, rng) {
				f.cache.begin(&tk)
				want, wok := argmax(c, &tk, nil, f)
				tr := f.best.trees[tk]
				fresh := tr != nil && len(c.changed)-tr.synced <= len(c.Nodes)/4
				got, ok := f.best.choose(c, &tk, f)
				asked++
				if fresh && f.best.trees[tk] == tr {
					updated++
				}
				if ok != wok || got != want {
					t.Fatalf("%s iter %d task %d %+v: trees %+v %v, argmax %+v %v", name, iter, k, tk, got, ok, want, wok)
				}
				if ok {
					if err := c.Apply(got, &tk); err != nil {
						t.Fatal(err)
					}
				}
			}
			if len(f.best.trees) == 0 {
				t.Fatalf("%s iter %d: no shape recurred", name, iter)
			}
		}
	}
	t.Logf("%d tasks asked, %d answered by updating a tree", asked, updated)
	if updated < asked/2 {
		t.Fatalf("%d of %d tasks answered by updating a tree", updated, asked)
	}
}

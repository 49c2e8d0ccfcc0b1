package sched

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/suanli/suanli/internal/model"
)

// TestShareCacheKeepsDecisions schedules random jobs, many of them
// fractional replicas with host asks, on random networks whose placements
// come and go, with the per-node cache of share scores and without it
// (every score computed afresh), under the default mix and one that reads
// the host, and wants byte-identical decisions: the cache never serves a
// score the node's changes made stale.
func TestShareCacheKeepsDecisions(t *testing.T) {
	t.Cleanup(func() { noShareCache = false })
	rng := rand.New(rand.NewPCG(14, 2))
	compared, placedShares := 0, 0
	for trial := range 60 {
		net := randomNet(t, rng, 8, 8)
		c := NewCluster(net)
		cfg := Config{}.withDefaults()
		if trial%2 == 1 {
			cfg.TypicalTasks = append(cloneShapes(cfg.TypicalTasks), TaskShape{Cards: 1, CPUMilli: 12000, Models: []string{net.Nodes[0].Model}, PopularityMilli: 100},
				TaskShape{ShareMilli: 300, CPUMilli: 4000, HostMemMiB: 1 << 20, PopularityMilli: 50})
		}
		var placed []model.Placement
		for i := range 120 {
			j := randomJob(rng, i, net)
			if rng.IntN(3) > 0 {
				j = model.Job{ID: j.ID, Tenant: "t", Kind: model.Inference, Workers: 1 + rng.IntN(3),
					ShareMilli: 100 * (1 + rng.IntN(9)), MemMiB: int64(1024 * rng.IntN(4)), CPUMilli: int64(rng.IntN(3)) * 2000}
			}
			in := Input{Seed: uint64(rng.IntN(2))}
			noShareCache = true
			want, _ := json.Marshal(Schedule(c, &j, in, cfg))
			noShareCache = false
			d := Schedule(c, &j, in, cfg)
			got, _ := json.Marshal(d)
			if !bytes.Equal(got, want) {
				t.Fatalf("trial %d job %d: with the share cache\n%s\nwithout\n%s", trial, i, got, want)
			}
			compared++
			if d.Placed() {
				if err := c.Apply(*d.Placement); err != nil {
					t.Fatal(err)
				}
				placed = append(placed, *d.Placement)
				if j.ShareMilli > 0 {
					placedShares++
				}
			}
			if len(placed) > 0 && rng.IntN(3) == 0 { // jobs end: nodes change under the cache
				k := rng.IntN(len(placed))
				if err := c.Release(placed[k]); err != nil {
					t.Fatal(err)
				}
				placed = append(placed[:k], placed[k+1:]...)
			}
		}
	}
	if compared < 5000 || placedShares < 1000 {
		t.Fatalf("only %d decisions compared, %d shares placed", compared, placedShares)
	}
}

package sched

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/suanli/suanli/internal/model"
)

// TestRestoreUndoesChanges marks random partly filled clusters, releases
// batches of their placements (ChangeAll, ReleaseAt), applies others,
// decides jobs in between (which fills the fragmentation caches and holds
// replicas while deciding), sometimes under another task mix, then
// restores them: the state must be the marked one, and decisions on it,
// read from the caches Restore kept, byte-identical to those on a copy
// taken at the mark, which has no caches.
func TestRestoreUndoesChanges(t *testing.T) {
	rng := rand.New(rand.NewPCG(14, 3))
	compared := 0
	for trial := range 40 {
		net := randomNet(t, rng, 8, 8)
		c := NewCluster(net)
		cfg, other := Config{}.withDefaults(), Config{}.withDefaults()
		other.TypicalTasks = append(cloneShapes(other.TypicalTasks), TaskShape{Cards: 1, CPUMilli: 12000, Models: []string{net.Nodes[0].Model}, PopularityMilli: 100},
			TaskShape{ShareMilli: 300, CPUMilli: 4000, HostMemMiB: 1 << 20, PopularityMilli: 50})
		if trial%2 == 1 {
			cfg, other = other, cfg
		}
		job := func(i int) model.Job {
			if rng.IntN(2) == 0 {
				return model.Job{ID: model.JobID("s" + string(rune('a'+i%26))), Tenant: "t", Kind: model.Inference, Workers: 1 + rng.IntN(3),
					ShareMilli: 100 * (1 + rng.IntN(9)), CPUMilli: int64(rng.IntN(3)) * 2000}
			}
			return randomJob(rng, i, net)
		}
		var live []model.Placement
		for i := range 60 {
			j := job(i)
			if p := Schedule(c, &j, Input{}, cfg).Placement; p != nil && c.Apply(*p) == nil {
				live = append(live, *p)
			}
		}
		for round := range 5 {
			before := c.Clone()
			c.Mark()
			for step := range 6 {
				switch rng.IntN(4) {
				case 0:
					k := rng.IntN(len(live) + 1)
					c.ChangeAll(-1, k, func(i int) (*model.Placement, []int32) { return &live[i], nil })
				case 1:
					if len(live) > 0 {
						_ = c.ReleaseAt(&live[rng.IntN(len(live))], nil)
					}
				default:
					j, use := job(100+step), cfg
					if round%3 == 2 && step == 3 {
						use = other // the measure changes while marked
					}
					if p := Schedule(c, &j, Input{}, use).Placement; p != nil && rng.IntN(2) == 0 {
						_ = c.Apply(*p)
					}
				}
			}
			post := cfg
			if round%3 == 2 { // restored under another measure than marked
				j := job(150)
				Schedule(c, &j, Input{}, other)
				post = other
			}
			checkIndexes(t, c)
			c.Restore()
			checkIndexes(t, c)
			if !sameState(c, before) {
				t.Fatalf("trial %d round %d: the restored cluster differs from the marked one", trial, round)
			}
			for i := range 8 {
				j := job(200 + i)
				got, _ := json.Marshal(Schedule(c, &j, Input{}, post))
				want, _ := json.Marshal(Schedule(before, &j, Input{}, post))
				if !bytes.Equal(got, want) {
					t.Fatalf("trial %d round %d job %d: after Restore\n%s\non the copy\n%s", trial, round, i, got, want)
				}
				compared++
			}
		}
	}
	if compared < 1000 {
		t.Fatalf("only %d decisions compared", compared)
	}
}

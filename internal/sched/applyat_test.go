package sched

import (
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/suanli/suanli/internal/model"
)

// sameState reports whether two clusters hold the same allocation state
// and indexes (the decision scratch aside).
func sameState(a, b *Cluster) bool {
	x, y := *a, *b
	x.scratch, x.frag, x.lookups, x.cpuNorm = nil, nil, nil, 0
	y.scratch, y.frag, y.lookups, y.cpuNorm = nil, nil, nil, 0
	if len(x.dirty) > 0 || len(y.dirty) > 0 || slices.Contains(x.dirtyMark, true) || slices.Contains(y.dirtyMark, true) {
		return false // ChangeAll left nodes to index
	}
	x.dirty, x.dirtyMark, y.dirty, y.dirtyMark = nil, nil, nil, nil
	x.jnl, y.jnl = journal{}, journal{}
	return reflect.DeepEqual(x, y)
}

// ApplyAt and ReleaseAt change a cluster as Apply and Release do, given
// the right node indexes, wrong ones, too few or none, and reject what
// they reject, changing nothing.
func TestApplyAtMatchesApply(t *testing.T) {
	rejected := 0
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 9))
		net := randomNet(t, rng, 6, 8)
		c, d := NewCluster(net), NewCluster(net)
		indexes := func(p *model.Placement) []int32 {
			out := make([]int32, len(p.Assignments))
			for i, a := range p.Assignments {
				out[i], _ = c.NodeIndex(a.Node)
				switch rng.IntN(6) {
				case 0:
					out[i] = int32(rng.IntN(len(net.Nodes)))
				case 1:
					out[i] = -1
				}
			}
			if rng.IntN(5) == 0 {
				out = out[:rng.IntN(len(out)+1)]
			}
			return out
		}
		var live []model.Placement
		for i := range 80 {
			j := randomJob(rng, i, net)
			dec := Schedule(c, &j, Input{}, Config{})
			if p := dec.Placement; p != nil {
				err1, err2 := c.Apply(*p), d.ApplyAt(p, indexes(p))
				if (err1 == nil) != (err2 == nil) {
					t.Fatalf("seed %d job %d: Apply: %v, ApplyAt: %v", seed, i, err1, err2)
				}
				live = append(live, *p)
				// Applied twice: mostly rejected (a share may fit again),
				// by both alike.
				err1, err2 = c.Apply(*p), d.ApplyAt(p, indexes(p))
				if (err1 == nil) != (err2 == nil) || err1 != nil && err1.Error() != err2.Error() {
					t.Fatalf("seed %d job %d: again: Apply: %v, ApplyAt: %v", seed, i, err1, err2)
				}
				if err1 == nil {
					live = append(live, *p)
				} else {
					rejected++
				}
			}
			if len(live) > 0 && rng.IntN(3) == 0 {
				k := rng.IntN(len(live))
				p := &live[k]
				for range 2 { // the second time, mostly rejected
					err1, err2 := c.Release(*p), d.ReleaseAt(p, indexes(p))
					if (err1 == nil) != (err2 == nil) || err1 != nil && err1.Error() != err2.Error() {
						t.Fatalf("seed %d job %d: Release: %v, ReleaseAt: %v", seed, i, err1, err2)
					}
				}
				live = slices.Delete(live, k, k+1)
			}
			if !sameState(c, d) {
				t.Fatalf("seed %d job %d: the clusters differ", seed, i)
			}
		}
	}
	if rejected < 100 {
		t.Fatalf("only %d placements applied twice were rejected", rejected)
	}
}

// ChangeAll changes a cluster as ApplyAt and ReleaseAt one by one do, and
// rejects the same number, on random batches of placed jobs (some named
// twice, so that the second is rejected), released and applied again.
func TestChangeAllMatchesOneByOne(t *testing.T) {
	rejected := 0
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 17))
		net := randomNet(t, rng, 6, 8)
		c, d := NewCluster(net), NewCluster(net)
		var live []model.Placement
		for i := range 120 {
			j := randomJob(rng, i, net)
			if p := Schedule(c, &j, Input{}, Config{}).Placement; p != nil && c.Apply(*p) == nil {
				if err := d.Apply(*p); err != nil {
					t.Fatal(err)
				}
				live = append(live, *p)
			}
			if len(live) == 0 || rng.IntN(4) != 0 {
				continue
			}
			var batch []*model.Placement
			for range 1 + rng.IntN(len(live)) {
				batch = append(batch, &live[rng.IntN(len(live))])
			}
			for _, sign := range []int{-1, +1} {
				want := 0
				for k := range batch {
					p := batch[k]
					if sign > 0 {
						p = batch[len(batch)-1-k]
					}
					var err error
					if sign < 0 {
						err = c.ReleaseAt(p, nil)
					} else {
						err = c.ApplyAt(p, nil)
					}
					if err != nil {
						want++
					}
				}
				got := d.ChangeAll(sign, len(batch), func(k int) (*model.Placement, []int32) {
					if sign > 0 {
						k = len(batch) - 1 - k
					}
					return batch[k], nil
				})
				if got != want || !sameState(c, d) {
					t.Fatalf("seed %d job %d sign %d: ChangeAll rejected %d, one by one %d; or the clusters differ", seed, i, sign, got, want)
				}
				rejected += got
			}
		}
	}
	if rejected == 0 {
		t.Fatal("no placement rejected in any batch")
	}
}

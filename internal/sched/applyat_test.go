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

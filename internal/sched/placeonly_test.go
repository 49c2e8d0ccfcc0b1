package sched

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"
)

// Placement is Schedule's placement, on random clusters, jobs, seeds and
// host requests, placed or not; and asking it first leaves Schedule's
// decision as it would have been.
func TestPlacementIsSchedules(t *testing.T) {
	placed, unplaced := 0, 0
	for seed := range uint64(30) {
		rng := rand.New(rand.NewPCG(seed, 13))
		net := randomNet(t, rng, 6, 8)
		c, ref := NewCluster(net), NewCluster(net)
		for i := range 80 {
			j := randomJob(rng, i, net)
			if seed%2 == 1 {
				j.CPUMilli, j.HostMemMiB = int64(rng.IntN(5))*24_000, int64(rng.IntN(5))*256<<10
			}
			in := Input{Seed: uint64(rng.IntN(3))}
			p := Placement(c, &j, in, Config{})
			d := Schedule(c, &j, in, Config{})
			want := Schedule(ref, &j, in, Config{}) // never asked Placement
			b1, _ := json.Marshal(p)
			b2, _ := json.Marshal(d.Placement)
			b3, _ := json.Marshal(want)
			b4, _ := json.Marshal(d)
			if !bytes.Equal(b1, b2) || !bytes.Equal(b3, b4) {
				t.Fatalf("seed %d job %d: Placement %s, Schedule's %s\n(Schedule %s,\nbeside Placement %s)", seed, i, b1, b2, b3, b4)
			}
			if p == nil {
				unplaced++
				continue
			}
			placed++
			if err := c.Apply(*p); err != nil {
				t.Fatal(err)
			}
			if err := ref.Apply(*p); err != nil {
				t.Fatal(err)
			}
		}
	}
	if placed < 100 || unplaced < 100 {
		t.Fatalf("%d placed, %d unplaced: too few of one", placed, unplaced)
	}
}

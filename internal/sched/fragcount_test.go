package sched

import (
	"math/rand/v2"
	"testing"

	"github.com/suanli/suanli/internal/model"
)

// TestFragCountsMatchNodeFrag checks that the counts form of the
// fragmentation measure, which scoring uses, gives exactly what nodeFrag
// gives: a node's own fragmentation, and its change when a share is taken
// from one card or whole free cards are taken, on random networks filled
// with random placements (whole cards, shares, memory).
func TestFragCountsMatchNodeFrag(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	checked := 0
	for trial := range 200 {
		net := randomNet(t, rng, 6, 8)
		c := NewCluster(net)
		for i := range 5 + rng.IntN(30) {
			j := randomJob(rng, i, net)
			if d := Schedule(c, &j, Input{}, Config{}); d.Placed() {
				if err := c.Apply(*d.Placement); err != nil {
					t.Fatal(err)
				}
			}
		}
		job := &model.Job{ID: "probe", Kind: model.Inference, Workers: 1, ShareMilli: 100 * (1 + rng.IntN(9))}
		s := c.newSearch(job, &Input{}, Config{}.withDefaults())
		for n := range int32(len(s.st.nodes)) {
			fc, cur, ok := s.nodeCounts(n)
			if !ok {
				t.Fatalf("trial %d: node %d of %d cards has no counts", trial, n, s.st.nodes[n].cards)
			}
			if want := s.nodeFrag(n, 0, -1, 0); cur != want {
				t.Fatalf("trial %d: node %d: counts give %d, nodeFrag %d", trial, n, cur, want)
			}
			ni := &s.st.nodes[n]
			for k := range ni.cards {
				free := s.cardFree(ni.cardOff + k)
				if free < int32(job.ShareMilli) {
					continue
				}
				after := *fc
				after.add(s.shares, free, -1)
				after.add(s.shares, free-int32(job.ShareMilli), +1)
				if got, want := s.fragOf(&after), s.nodeFrag(n, 0, k, job.ShareMilli); got != want {
					t.Fatalf("trial %d: node %d card %d: counts give %d after the share, nodeFrag %d", trial, n, k, got, want)
				}
				checked++
			}
			for f := 1; f <= int(s.c.free[n]); f++ {
				for k := 1; k <= f; k++ {
					s.gen++ // no cached values: compare the computation itself
					got := s.wholeFragDelta(n, k, f)
					if want := s.nodeFrag(n, k, -1, 0) - s.nodeFrag(n, 0, -1, 0); got != want {
						t.Fatalf("trial %d: node %d: taking %d of %d free cards changes the counts' measure by %d, nodeFrag's by %d", trial, n, k, f, got, want)
					}
					checked++
				}
			}
		}
	}
	if checked < 1000 {
		t.Fatalf("only %d cases checked", checked)
	}
}

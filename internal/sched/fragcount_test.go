package sched

import (
	"math/rand/v2"
	"testing"

	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/sched/frag"
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
		maxCards := 8
		if trial%4 == 3 {
			maxCards = 24 // nodes beyond frag.MaxGPUs: nodeFrag's integer form
		}
		net := randomNet(t, rng, 6, maxCards)
		c := NewCluster(net)
		placeRandom(t, rng, c, net, false)
		job := &model.Job{ID: "probe", Kind: model.Inference, Workers: 1, ShareMilli: 100 * (1 + rng.IntN(9)), CPUMilli: int64(rng.IntN(3)) * 8000}
		cfg := Config{}.withDefaults()
		if trial%2 == 1 { // a mix with host needs and models: the measure reads the host
			cfg.TypicalTasks = append(cloneShapes(cfg.TypicalTasks), TaskShape{Cards: 1, CPUMilli: 12000, Models: []string{net.Nodes[0].Model}, PopularityMilli: 100},
				TaskShape{ShareMilli: 300, CPUMilli: 4000, HostMemMiB: 1 << 20, PopularityMilli: 50}, TaskShape{CPUMilli: 16000, PopularityMilli: 30})
		}
		s := c.newSearch(job, &Input{}, cfg)
		for n := range int32(len(s.st.nodes)) {
			fc, cur, ok := s.nodeCounts(n)
			if ok != (s.st.nodes[n].cards <= frag.MaxGPUs) {
				t.Fatalf("trial %d: node %d of %d cards: counts %v", trial, n, s.st.nodes[n].cards, ok)
			}
			if !ok {
				checkBigNodeBounds(t, s, n, job.ShareMilli)
				continue
			}
			if want := s.nodeFrag(n, 0, -1, 0, 0, 0); cur != want {
				t.Fatalf("trial %d: node %d: counts give %v, nodeFrag %v", trial, n, cur, want)
			}
			ni := &s.st.nodes[n]
			for k := range ni.cards {
				free := s.cardFree(ni.cardOff + k)
				if free < int32(job.ShareMilli) {
					continue
				}
				after := *fc
				after.add(s, free, -1)
				after.add(s, free-int32(job.ShareMilli), +1)
				got, want := s.fragOf(n, &after, job.CPUMilli, 0), s.nodeFrag(n, 0, k, job.ShareMilli, job.CPUMilli, 0)
				if got != want {
					t.Fatalf("trial %d: node %d card %d: counts give %v after the share, nodeFrag %v", trial, n, k, got, want)
				}
				if sc := fragScore(cur, got); sc > s.fragBound(int64(job.ShareMilli), job.CPUMilli) { // the bound offerShare prunes by
					t.Fatalf("trial %d: node %d card %d: a share of %d scores %d, above its bound", trial, n, k, job.ShareMilli, sc)
				}
				checked++
			}
			for f := 1; f <= int(s.c.free[n]); f++ {
				for k := 1; k <= f; k++ {
					s.gen++ // no cached values: compare the computation itself
					got := s.wholeFragScore(n, k, f, 1)
					if want := fragScore(s.nodeFrag(n, 0, -1, 0, 0, 0), s.nodeFrag(n, k, -1, 0, job.CPUMilli, 0)); got != want {
						t.Fatalf("trial %d: node %d: taking %d of %d free cards scores %d by the counts, %d by nodeFrag", trial, n, k, f, got, want)
					}
					if got > s.fragBound(int64(k)*model.MilliCard, job.CPUMilli) { // the bound offerNode prunes by
						t.Fatalf("trial %d: node %d: taking %d cards scores %d, above its bound", trial, n, k, got)
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

// checkBigNodeBounds checks the pruning bounds on a node that nodeFrag
// measures in integers.
func checkBigNodeBounds(t *testing.T, s *search, n int32, share int) {
	t.Helper()
	ni := &s.st.nodes[n]
	cur := s.nodeFrag(n, 0, -1, 0, 0, 0)
	for k := range ni.cards {
		if s.cardFree(ni.cardOff+k) >= int32(share) {
			if sc := fragScore(cur, s.nodeFrag(n, 0, k, share, 0, 0)); sc > s.fragBound(int64(share), 0) {
				t.Fatalf("node %d card %d: a share of %d scores %d, above its bound", n, k, share, sc)
			}
		}
	}
	for k := 1; k <= int(s.c.free[n]); k++ {
		if sc := fragScore(cur, s.nodeFrag(n, k, -1, 0, 0, 0)); sc > s.fragBound(int64(k)*model.MilliCard, 0) {
			t.Fatalf("node %d: taking %d cards scores %d, above its bound", n, k, sc)
		}
	}
}

package sched

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/suanli/suanli/internal/model"
)

// TestPruningKeepsDecisions schedules random jobs on random, partly filled
// networks with and without skipping outranked candidates, with default
// and other weights and tie-breaking seeds, and wants byte-identical
// decisions.
func TestPruningKeepsDecisions(t *testing.T) {
	t.Cleanup(func() { noPruning = false })
	weights := []Weights{{}, {Frag: 1000, Topology: 10, Heterogeneity: 10, Cost: 10}, {Frag: 10, Topology: 500, Heterogeneity: 700, Cost: 300}, {Frag: 400, Topology: -300, Heterogeneity: 200, Cost: -100}}
	rng := rand.New(rand.NewPCG(21, 8))
	compared := 0
	for trial := range 60 {
		net := randomNet(t, rng, 8, 8)
		c := NewCluster(net)
		cfg := Config{Weights: weights[trial%len(weights)]}
		for i := range 80 {
			j := randomJob(rng, i, net)
			if rng.IntN(2) == 0 { // more fractional replicas, the pruned path
				j = model.Job{ID: j.ID, Tenant: "t", Kind: model.Inference, Workers: 1 + rng.IntN(3), ShareMilli: 50 * (1 + rng.IntN(19))}
			}
			in := Input{Seed: uint64(rng.IntN(3))}
			noPruning = true
			want, _ := json.Marshal(Schedule(c, &j, in, cfg))
			noPruning = false
			d := Schedule(c, &j, in, cfg)
			got, _ := json.Marshal(d)
			if !bytes.Equal(got, want) {
				t.Fatalf("trial %d job %d: with pruning\n%s\nwithout\n%s", trial, i, got, want)
			}
			compared++
			if d.Placed() {
				if err := c.Apply(*d.Placement); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if compared < 1000 {
		t.Fatalf("only %d decisions compared", compared)
	}
}

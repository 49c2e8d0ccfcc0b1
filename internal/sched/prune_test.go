package sched

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/network"
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

// TestPruningKeepsDecisionsWithPlace: the place component's bounds (a
// bucket scan in the job's site order for jobs with users or data) prune
// only candidates that could not be kept, on random networks with
// random coordinates, links and power prices.
func TestPruningKeepsDecisionsWithPlace(t *testing.T) {
	t.Cleanup(func() { noPruning = false })
	rng := rand.New(rand.NewPCG(22, 9))
	provinces := []string{"Guangdong", "Qinghai", "Beijing", "Sichuan"}
	compared, ordered := 0, 0
	for trial := range 40 {
		net := randomNet(t, rng, 24, 8)
		for i := range net.Sites {
			s := &net.Sites[i]
			s.Lat, s.Lon = 20+rng.Float64()*25, 90+rng.Float64()*30
			s.PowerFenPerKWh, s.PUEMilli = int64(20+rng.IntN(60)), int64(1100+rng.IntN(300))
			if i > 0 && rng.IntN(3) > 0 {
				net.Links = append(net.Links, network.Link{A: s.ID, B: net.Sites[rng.IntN(i)].ID, Gbps: float64(10 * (1 + rng.IntN(40))), RTTms: 1 + rng.Float64()*30})
			}
		}
		c := NewCluster(net)
		cfg := Config{Weights: []Weights{{}, {Frag: 400, Topology: 300, Heterogeneity: 200, Cost: 900, Place: 700}, {Frag: 10, Topology: 300, Heterogeneity: 10, Cost: 400, Place: 300}}[trial%3]}
		for i := range 80 {
			j := randomJob(rng, i, net)
			switch rng.IntN(3) {
			case 0:
				j.Users = provinces[rng.IntN(len(provinces))]
				if rng.IntN(2) == 0 {
					j.Users = string(net.Sites[rng.IntN(len(net.Sites))].ID)
				}
			case 1:
				j.Data = &model.DataLocation{Site: net.Sites[rng.IntN(len(net.Sites))].ID, SizeGB: int64(rng.IntN(50_000))}
				j.RuntimeSec = int64(rng.IntN(7200))
			}
			if j.Data != nil || j.Users != "" && j.EffectiveLatency() == model.LatencyInteractive {
				ordered++
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
	if compared < 1000 || ordered < 300 {
		t.Fatalf("only %d decisions compared, %d with users or data", compared, ordered)
	}
}

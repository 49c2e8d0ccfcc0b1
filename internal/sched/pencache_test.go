package sched

import (
	"math/rand/v2"
	"testing"

	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/network"
)

// TestJobPenaltiesMatchJobTerms checks the per-site penalties initPlace
// sums from its cache (latency per place of users, routes per data site)
// against jobTerms, which computes them afresh, for random jobs with
// users (provinces, sites, unknown places), data or both, on random
// networks with coordinates and links, the same places asked many times.
func TestJobPenaltiesMatchJobTerms(t *testing.T) {
	rng := rand.New(rand.NewPCG(14, 4))
	places := []string{"Guangdong", "Qinghai", "Beijing", "Sichuan", "Atlantis"}
	checked := 0
	for trial := range 30 {
		net := randomNet(t, rng, 6, 8)
		for i := range net.Sites {
			s := &net.Sites[i]
			s.Lat, s.Lon = 20+rng.Float64()*25, 90+rng.Float64()*30
			if i > 0 && rng.IntN(3) > 0 {
				net.Links = append(net.Links, network.Link{A: s.ID, B: net.Sites[rng.IntN(i)].ID, Gbps: float64(10 * (1 + rng.IntN(40))), RTTms: 1 + rng.Float64()*30})
			}
		}
		c := NewCluster(net)
		for i := range 60 {
			j := randomJob(rng, i, net)
			if rng.IntN(3) > 0 {
				j.Users = places[rng.IntN(len(places))]
				if rng.IntN(3) == 0 {
					j.Users = string(net.Sites[rng.IntN(len(net.Sites))].ID)
				}
			}
			if rng.IntN(2) == 0 {
				j.Data = &model.DataLocation{Site: net.Sites[rng.IntN(len(net.Sites))].ID, SizeGB: int64(rng.IntN(50_000))}
				j.RuntimeSec = int64(rng.IntN(7200))
			}
			s := c.newSearch(&j, &Input{}, Config{}.withDefaults())
			if !s.pl.ordered {
				continue
			}
			for si := range s.st.sites {
				tm := s.jobTerms(int32(si))
				if want := tm.TransferPenalty + tm.LatencyPenalty; s.pl.jobPen[si] != want {
					t.Fatalf("trial %d job %d site %d: penalty %d, jobTerms %d", trial, i, si, s.pl.jobPen[si], want)
				}
				checked++
			}
		}
	}
	if checked < 2000 {
		t.Fatalf("only %d penalties checked", checked)
	}
}

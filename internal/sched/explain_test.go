package sched

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/network"
)

// tallyByDomain is the plain statement of tallyNodes: domain by domain,
// each node under the first reason that removes it.
func (s *search) tallyByDomain() *tally {
	t := newTally(len(s.st.models))
	modDetail := s.modDetails()
	stride := s.st.maxCards + 1
	for d := range s.st.domains {
		dom := &s.st.domains[d]
		nodes := int(dom.hi - dom.lo)
		if r := s.modReason[dom.model]; r != "" {
			t.add(r, nodes, dom.cards, modDetail[dom.model])
			continue
		}
		if !s.siteOK(dom.site) {
			site := s.st.sites[dom.site].s
			t.add(Residency, nodes, dom.cards, fmt.Sprintf("%s (%s)", site.ID, site.Region))
			continue
		}
		if c := s.st.nodes[dom.lo].class; dom.uniform && !s.classOK(c) {
			t.add(PolicyDenied, nodes, dom.cards, s.classRule[c])
			continue
		}
		C := s.workerCards(dom.model)
		h := s.c.domHist[d*stride : (d+1)*stride]
		if dom.uniform && sum(h) == nodes && !s.job.Fractional() && C > 0 {
			s.hist(t, h, dom.model, C, dom.cards/max(nodes, 1))
			continue
		}
		for n := dom.lo; n < dom.hi; n++ {
			s.node(t, n)
		}
	}
	return t
}

// denyLabel denies nodes labelled tier=restricted.
type denyLabel struct{}

func (denyLabel) Allow(_ *model.Job, _ *model.Site, n *model.Node, _ *catalog.Model) (bool, string) {
	if n.Labels["tier"] == "restricted" {
		return false, "restricted tier"
	}
	return true, ""
}

// explainState is a random network, its nodes labelled on even trials
// (so some domains mix classes), with random jobs placed and nodes going
// down between them.
func explainState(t *testing.T, rng *rand.Rand, trial int) (*network.Network, *Cluster) {
	net := randomNet(t, rng, 6, 8)
	if trial%2 == 0 {
		for i := range net.Nodes {
			if rng.IntN(4) == 0 {
				net.Nodes[i].Labels = map[string]string{"tier": "restricted"}
			}
		}
	}
	c := NewCluster(net)
	placeRandom(t, rng, c, net, true)
	return net, c
}

// placeRandom places 5 to 34 random jobs, those that fit; with down, a
// random node goes down after each with odds 1 in 5.
func placeRandom(t *testing.T, rng *rand.Rand, c *Cluster, net *network.Network, down bool) {
	t.Helper()
	for i := range 5 + rng.IntN(30) {
		j := randomJob(rng, i, net)
		if d := Schedule(c, &j, Input{}, Config{}); d.Placed() {
			if err := c.Apply(*d.Placement); err != nil {
				t.Fatal(err)
			}
		}
		if down && rng.IntN(5) == 0 {
			c.SetNodeHealthy(net.Nodes[rng.IntN(len(net.Nodes))].ID, false)
		}
	}
}

// randomPolicy is no policy, one denying labelled nodes or one denying a
// vendor, a third of the time each.
func randomPolicy(rng *rand.Rand) Input {
	in := Input{}
	switch rng.IntN(3) {
	case 0:
		in.Policy = denyLabel{}
	case 1:
		in.Policy = denyVendor("Huawei")
	}
	return in
}

// TestTallyByRunsMatchesByDomain checks the explanation's attribution by
// runs of domains and by (site, model) histograms against the plain
// domain-by-domain attribution, on random networks with labelled nodes (so
// some domains mix classes), unhealthy nodes, policies and residency.
func TestTallyByRunsMatchesByDomain(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 4))
	checked := 0
	for trial := range 150 {
		net, c := explainState(t, rng, trial)
		for i := range 20 {
			j := randomJob(rng, 1000+i, net)
			in := randomPolicy(rng)
			if j.Validate() != nil {
				continue
			}
			s := c.newSearch(&j, &in, Config{}.withDefaults())
			s.filterModels()
			got, want := s.tallyNodes(), s.tallyByDomain()
			for k := range got.details { // a reused tally keeps empty slices
				if len(got.details[k]) == 0 {
					got.details[k] = nil
				}
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("trial %d job %+v:\nby runs   %+v\nby domain %+v", trial, j, got, want)
			}
			checked++
		}
	}
	if checked < 1000 {
		t.Fatalf("only %d jobs checked", checked)
	}
}

// placedSummaryByFmt is the plain statement of placedSummary.
func (s *search) placedSummaryByFmt(p *model.Placement, mixed bool) string {
	nodes := map[model.NodeID]bool{}
	cards := 0
	for _, a := range p.Assignments {
		nodes[a.Node] = true
		cards += len(a.Cards)
	}
	cd := &s.top[0]
	where := s.whereName(cd.scope, cd.where, cd.model)
	kind := s.st.models[s.st.nodes[s.nodeIndex(p.Assignments[0].Node)].model].id
	if mixed {
		kind = "mixed models"
	}
	if s.job.Fractional() {
		return fmt.Sprintf("placed %d × %d‰ of %s on %d nodes, first %s", len(p.Assignments), s.job.ShareMilli, kind, len(nodes), where)
	}
	return fmt.Sprintf("placed %d workers, %d cards of %s on %d nodes in %s %s", len(p.Assignments), cards, kind, len(nodes), cd.scope, where)
}

func TestPlacedSummaryMatchesFmt(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	checked := 0
	for range 60 {
		net := randomNet(t, rng, 8, 8)
		c := NewCluster(net)
		for i := range 40 {
			j := randomJob(rng, i, net)
			if rng.IntN(8) == 0 {
				j = model.Job{ID: j.ID, Tenant: "t", Kind: model.Gang, Workers: 40, CardsPerWorker: 1, CrossSite: true} // many assignments
			}
			if j.Validate() != nil {
				continue
			}
			s := c.newSearch(&j, &Input{}, Config{}.withDefaults())
			s.filterModels()
			as, mixed := s.place()
			if as == nil {
				continue
			}
			p := &model.Placement{Job: j.ID, Assignments: as}
			if got, want := s.placedSummary(p, mixed), s.placedSummaryByFmt(p, mixed); got != want {
				t.Fatalf("job %+v: %q, want %q", j, got, want)
			}
			checked++
			if err := c.Apply(*p); err != nil {
				t.Fatal(err)
			}
		}
	}
	if checked < 500 {
		t.Fatalf("only %d placements checked", checked)
	}
}

// Brief gives the placements, reason counts and models to wait for that
// Schedule gives, on random networks with policies, unhealthy nodes and
// jobs that fit and do not; only the words differ.
func TestBriefCountsAsSchedule(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 8))
	failed, placed, invalid := 0, 0, 0
	for trial := range 120 {
		net, c := explainState(t, rng, trial)
		for i := range 20 {
			j := randomJob(rng, 1000+i, net)
			in := randomPolicy(rng)
			full, brief := Schedule(c, &j, in, Config{}), Brief(c, &j, in, Config{})
			if full.Placed() || j.Validate() != nil { // an invalid job is told why in full
				if j.Validate() != nil {
					invalid++
				}
				placed++
				if !reflect.DeepEqual(full, brief) {
					t.Fatalf("trial %d job %+v placed or invalid:\nSchedule %+v\nBrief    %+v", trial, j, full, brief)
				}
				continue
			}
			failed++
			if brief.Placement != nil || brief.Explanation.Summary != "" || brief.Explanation.Best != nil || brief.Explanation.Unblock != nil {
				t.Fatalf("trial %d: a brief failure carries words: %+v", trial, brief.Explanation)
			}
			if !slices.Equal(full.Explanation.Waits, brief.Explanation.Waits) {
				t.Fatalf("trial %d job %+v: waits %v, brief %v", trial, j, full.Explanation.Waits, brief.Explanation.Waits)
			}
			counted := func(rs []Rejection) []Rejection {
				out := make([]Rejection, len(rs))
				for k, r := range rs {
					out[k] = Rejection{Reason: r.Reason, Count: r.Count, Cards: r.Cards, Unit: r.Unit}
				}
				return out
			}
			if got, want := counted(brief.Explanation.Rejections), counted(full.Explanation.Rejections); !slices.Equal(got, want) {
				t.Fatalf("trial %d job %+v:\nbrief    %+v\nSchedule %+v", trial, j, got, want)
			}
		}
	}
	if failed < 300 || placed-invalid < 300 || invalid == 0 {
		t.Fatalf("only %d failures, %d placements and %d invalid jobs compared", failed, placed-invalid, invalid)
	}
}

// reasonIndex is slices.Index over reasonOrder.
func TestReasonIndex(t *testing.T) {
	for _, r := range append(slices.Clone(reasonOrder), CPUExhausted, InvalidJob, "") {
		if got, want := reasonIndex(r), slices.Index(reasonOrder, r); got != want {
			t.Errorf("reasonIndex(%q) = %d, want %d", r, got, want)
		}
	}
}

// rateNoteByFmt is the plain statement of rateNote's wording.
func (s *search) rateNoteByFmt(p *model.Placement) string {
	chosen := p.Assignments[0].Model
	rate, best, bestRate := s.rateTerms(chosen)
	from := s.in.RatesFrom
	if from == "" {
		from = "the job's own rates"
	}
	note := fmt.Sprintf("; heterogeneity term by throughput (%s): %s at %.4g/s per card", from, chosen, rate)
	if best != chosen && bestRate > 0 {
		note += fmt.Sprintf(", %.0f%% of its best (%s at %.4g/s)", 100*rate/bestRate, best, bestRate)
	} else {
		note += ", its fastest model"
	}
	if f, ok := s.in.EffectiveMilli[chosen]; ok {
		note += fmt.Sprintf("; charged %d‰ of peak GFLOPS toward fair share and quota (effective throughput)", f)
	}
	return note
}

func TestRateNoteMatchesFmt(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 14))
	net := randomNet(t, rng, 6, 8)
	c := NewCluster(net)
	models := []string{}
	for _, n := range net.Nodes {
		if !slices.Contains(models, n.Model) {
			models = append(models, n.Model)
		}
	}
	models = append(models, "not-in-the-network")
	rates := []float64{0.001, 0.5, 1, 3.14159, 12.5, 99.99, 1234.5678, 1e6, 2.5e-7}
	for i := range 2000 {
		j := model.Job{ID: model.JobID(fmt.Sprintf("r%d", i)), Tenant: "t", Kind: model.Inference, Workers: 1, CardsPerWorker: 1, Rates: map[string]float64{}}
		for range 1 + rng.IntN(len(models)) {
			j.Rates[models[rng.IntN(len(models))]] = rates[rng.IntN(len(rates))] * float64(1+rng.IntN(3))
		}
		in := Input{}
		if rng.IntN(2) == 0 {
			in.RatesFrom = "class vision-train, learned"
		}
		chosen := models[rng.IntN(len(models)-1)]
		if rng.IntN(3) == 0 {
			in.EffectiveMilli = map[string]int64{chosen: int64(rng.IntN(3000))}
		}
		s := c.newSearch(&j, &in, Config{}.withDefaults())
		p := &model.Placement{Job: j.ID, Assignments: []model.Assignment{{Node: net.Nodes[0].ID, Model: chosen, Cards: []int{0}}}}
		if got, want := s.rateNote(p), s.rateNoteByFmt(p); got != want {
			t.Fatalf("rates %v on %s:\n got %q\nwant %q", j.Rates, chosen, got, want)
		}
	}
}

package sched

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/network"
	"github.com/suanli/suanli/internal/sched/gen"
)

// TestFitsEmptyMatchesSchedule: on random networks, with and without a
// policy, FitsEmpty says a job can never fit exactly when Schedule cannot
// place it on the empty network.
func TestFitsEmptyMatchesSchedule(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 3))
	unfit, fit := 0, 0
	for i := range 400 {
		net := randomNet(t, rng, 4, 8)
		c := NewCluster(net)
		lim := NewLimits(net)
		var pol Policy
		if rng.IntN(3) == 0 {
			pol = denyVendor([]string{"Huawei", "Cambricon", "NVIDIA"}[rng.IntN(3)])
		}
		for k := range 20 {
			j := randomJob(rng, k, net)
			if rng.IntN(3) == 0 {
				j.Workers *= 1 + rng.IntN(12) // some too large for the network
			}
			if j.Kind == model.Batch && j.Fractional() {
				continue
			}
			u := lim.FitsEmpty(&j, pol, Config{})
			d := Schedule(c, &j, Input{Policy: pol}, Config{})
			if d.Explanation.Count(InvalidJob) > 0 {
				continue
			}
			if (u == nil) != d.Placed() {
				t.Fatalf("net %d job %+v: FitsEmpty says %v, Schedule on the empty network placed=%v: %s", i, j, u, d.Placed(), d.Explanation.Summary)
			}
			if u != nil {
				unfit++
				if !strings.HasPrefix(u.Text, "can never fit: ") || u.Fix == "" || u.Limit == "" {
					t.Fatalf("job %+v: unfit without a reason: %+v", j, u)
				}
				if pol != nil {
					// Policy is set exactly when the network alone holds it.
					da := Schedule(c, &j, Input{}, Config{})
					alone := da.Placed()
					if u.Policy != alone {
						t.Fatalf("job %+v: Policy=%v, placed without the policy=%v", j, u.Policy, alone)
					}
				}
			} else {
				fit++
			}
		}
	}
	t.Logf("%d unfit, %d fit", unfit, fit)
	if unfit < 200 || fit < 200 {
		t.Fatalf("too few cases of one kind: %d unfit, %d fit", unfit, fit)
	}
}

// TestFitsEmptyNamesTheLimit: the gangs of the reported incident are
// refused with the limit named, not "free N more cards".
func TestFitsEmptyNamesTheLimit(t *testing.T) {
	spec := network.Spec{Name: "limits", Sites: []network.SiteSpec{
		{ID: "xining", Region: "Northwest", Operator: "op", Ownership: "self-built", PowerPrice: 0.3, Pools: []network.PoolSpec{
			{Model: "huawei-ascend-910c", Nodes: 2048, CardsPerNode: 8, NodesPerDomain: 48}}},
		{ID: "wuhu", Region: "East", Operator: "op", Ownership: "self-built", PowerPrice: 0.4, Pools: []network.PoolSpec{
			{Model: "nvidia-h20", Nodes: 64, CardsPerNode: 8, NodesPerDomain: 16}}},
	}}
	net, err := spec.Expand(defaultCatalog())
	if err != nil {
		t.Fatal(err)
	}
	lim := NewLimits(net)
	for _, tt := range []struct {
		name string
		job  model.Job
		want []string
	}{
		{"20000x1 across sites", model.Job{ID: "a", Tenant: "t", Kind: model.Gang, Workers: 20000, CardsPerWorker: 1, CrossSite: true},
			[]string{"can never fit", "16384", "huawei-ascend-910c"}},
		{"20000x1 in one site", model.Job{ID: "b", Tenant: "t", Kind: model.Gang, Workers: 20000, CardsPerWorker: 1},
			[]string{"can never fit", "one site", "16384", "xining"}},
		{"60x8 in one domain", model.Job{ID: "c", Tenant: "t", Kind: model.Gang, Workers: 60, CardsPerWorker: 8, Topology: model.TopoDomain, TopologyRequired: true},
			[]string{"can never fit", "one high-bandwidth domain", "48 such workers", "384 cards"}},
		{"16 cards a worker", model.Job{ID: "d", Tenant: "t", Kind: model.Gang, Workers: 2, CardsPerWorker: 16},
			[]string{"can never fit", "node-too-small", "at most 8 cards"}},
		{"sites", model.Job{ID: "e", Tenant: "t", Kind: model.Gang, Workers: 100, CardsPerWorker: 8, Sites: []model.SiteID{"wuhu"}},
			[]string{"can never fit", "64 such workers", "nodes lie outside"}},
	} {
		u := lim.FitsEmpty(&tt.job, nil, Config{})
		if u == nil {
			t.Errorf("%s: fits", tt.name)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(u.Text, w) {
				t.Errorf("%s: %q lacks %q", tt.name, u.Text, w)
			}
		}
		if strings.Contains(u.Text, "free ") {
			t.Errorf("%s: %q speaks of freeing cards", tt.name, u.Text)
		}
	}
	// 48 × 8 in one domain fits.
	ok := model.Job{ID: "f", Tenant: "t", Kind: model.Gang, Workers: 48, CardsPerWorker: 8, Topology: model.TopoDomain, TopologyRequired: true}
	if u := lim.FitsEmpty(&ok, nil, Config{}); u != nil {
		t.Errorf("48×8 in a 384-card domain: %v", u)
	}
	// The policy: denying Huawei leaves 512 H20 cards.
	big := model.Job{ID: "g", Tenant: "t", Kind: model.Gang, Workers: 100, CardsPerWorker: 8}
	u := lim.FitsEmpty(&big, denyVendor("Huawei"), Config{})
	if u == nil || !u.Policy || !strings.Contains(u.Text, "policy denies 2048 nodes") {
		t.Errorf("under a policy denying Huawei: %+v", u)
	}
}

// BenchmarkFitsEmpty checks gangs against the generated 100,000-card
// network: the cost of the check at submit, for a gang that fits and one
// that never can (which visits every node of its models).
func BenchmarkFitsEmpty(b *testing.B) {
	net, err := gen.Network(gen.NetConfig{})
	if err != nil {
		b.Fatal(err)
	}
	lim := NewLimits(net)
	for _, tt := range []struct {
		name string
		job  model.Job
		fits bool
	}{
		{"gang=256x8/cross-site", model.Job{ID: "g", Tenant: "t", Kind: model.Gang, Workers: 256, CardsPerWorker: 8, CrossSite: true}, true},
		{"gang=20000x8/never", model.Job{ID: "g", Tenant: "t", Kind: model.Gang, Workers: 20000, CardsPerWorker: 8}, false},
	} {
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if u := lim.FitsEmpty(&tt.job, nil, Config{}); (u == nil) != tt.fits {
					b.Fatal(u)
				}
			}
		})
	}
}

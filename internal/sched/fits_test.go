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
// policy, with and without host CPU and memory asks, FitsEmpty says a job
// can never fit exactly when Schedule cannot place it on the empty network
// (but for gangs whose host asks Schedule's card-sized domain search
// misses, which FitsEmpty must let through).
func TestFitsEmptyMatchesSchedule(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 3))
	unfit, fit, host, missed := 0, 0, 0, 0
	for i := range 400 {
		net := randomNet(t, rng, 4, 8)
		if rng.IntN(2) == 0 {
			randomHosts(rng, net)
		}
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
			if rng.IntN(2) == 0 {
				randomHostRequest(rng, &j)
			}
			u := lim.FitsEmpty(&j, pol, Config{})
			d := Schedule(c, &j, Input{Policy: pol}, Config{})
			if d.Explanation.Count(InvalidJob) > 0 {
				continue
			}
			hostAsk := j.CPUMilli > 0 || j.HostMemMiB > 0
			if u == nil && !d.Placed() && hostAsk {
				// The gang paths size domains and sites by cards and
				// build them within each node's host: with host asks
				// they can miss a placement that exists. FitsEmpty
				// refuses only what no placement could hold: without the
				// host asks Schedule must place it.
				bare := j
				bare.CPUMilli, bare.HostMemMiB = 0, 0
				if db := Schedule(c, &bare, Input{Policy: pol}, Config{}); db.Placed() {
					missed++
					continue
				}
			}
			if (u == nil) != d.Placed() {
				t.Fatalf("net %d job %+v: FitsEmpty says %v, Schedule on the empty network placed=%v: %s", i, j, u, d.Placed(), d.Explanation.Summary)
			}
			if u != nil {
				unfit++
				if u.Limit == CPUTooFew || u.Limit == HostMemoryTooSmall {
					host++
					if !strings.Contains(u.Text, "host") {
						t.Fatalf("job %+v: unfit for want of host without saying so: %+v", j, u)
					}
				}
				if !strings.HasPrefix(u.Text, "can never fit: ") || u.Fix == "" || u.Limit == "" {
					t.Fatalf("job %+v: unfit without a reason: %+v", j, u)
				}
				if pol != nil && !hostAsk {
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
	t.Logf("%d unfit, %d fit (%d for want of host CPU or memory; %d host-bound gangs Schedule missed)", unfit, fit, host, missed)
	if unfit < 200 || fit < 200 || host < 30 {
		t.Fatalf("too few cases of one kind: %d unfit, %d fit, %d for want of host", unfit, fit, host)
	}
}

// randomHosts gives the nodes of a network random host CPU and memory
// (some none: not limited).
func randomHosts(rng *rand.Rand, net *network.Network) {
	for i := range net.Nodes {
		n := &net.Nodes[i]
		n.CPUCores, n.MemGiB = int64([]int{0, 8, 16, 32, 64}[rng.IntN(5)]), int64([]int{0, 32, 64, 256}[rng.IntN(4)])
	}
}

// randomHostRequest asks for host CPU and memory per worker, at times more
// than a node has.
func randomHostRequest(rng *rand.Rand, j *model.Job) {
	j.CPUMilli = int64(rng.IntN(5)) * 6000
	if rng.IntN(2) == 0 {
		j.HostMemMiB = int64(rng.IntN(5)) * 24 * 1024
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

// TestFitsEmptyHost: a job asking per worker more host CPU or memory than
// any node of its models has can never fit, and says which.
func TestFitsEmptyHost(t *testing.T) {
	spec := network.Spec{Name: "host", Sites: []network.SiteSpec{
		{ID: "xining", Region: "Northwest", Operator: "op", Ownership: "self-built", PowerPrice: 0.3, Pools: []network.PoolSpec{
			{Model: "huawei-ascend-910c", Nodes: 4, CardsPerNode: 8, CPUCores: 16, MemGiB: 64},
			{Model: "nvidia-h20", Nodes: 2, CardsPerNode: 8, CPUCores: 32, MemGiB: 128}}},
	}}
	net, err := spec.Expand(defaultCatalog())
	if err != nil {
		t.Fatal(err)
	}
	lim := NewLimits(net)
	for _, tt := range []struct {
		name string
		job  model.Job
		want []string // nil: fits
	}{
		{"24 cores a worker on 910c", model.Job{ID: "a", Tenant: "t", Kind: model.Gang, Workers: 2, CardsPerWorker: 1, CPUMilli: 24000, Models: []string{"huawei-ascend-910c"}},
			[]string{"can never fit", "cpu-too-few", "at most 16 cores of host CPU", "asks for 24 cores"}},
		{"24 cores a worker, any model", model.Job{ID: "b", Tenant: "t", Kind: model.Gang, Workers: 2, CardsPerWorker: 1, CPUMilli: 24000}, nil},
		{"40 cores a worker", model.Job{ID: "c", Tenant: "t", Kind: model.Inference, Workers: 1, CardsPerWorker: 1, CPUMilli: 40000},
			[]string{"can never fit", "cpu-too-few", "32 cores of host CPU"}},
		{"200 GiB a worker", model.Job{ID: "d", Tenant: "t", Kind: model.Inference, Workers: 1, ShareMilli: 500, HostMemMiB: 200 << 10},
			[]string{"can never fit", "host-memory-too-small", "131072 MiB of host memory"}},
		{"batch of 20 cores", model.Job{ID: "e", Tenant: "t", Kind: model.Batch, Workers: 1, CardsPerWorker: 3, CPUMilli: 20000, Models: []string{"huawei-ascend-910c"}},
			[]string{"can never fit", "cpu-too-few", "asks for 20 cores"}},
		{"gang on one node", model.Job{ID: "f", Tenant: "t", Kind: model.Gang, Workers: 4, CardsPerWorker: 1, CPUMilli: 6000, Topology: model.TopoNode, TopologyRequired: true, Models: []string{"huawei-ascend-910c"}},
			[]string{"can never fit", "cpu-too-few", "24 cores"}},
		{"gang of 8 × 8 cores", model.Job{ID: "g", Tenant: "t", Kind: model.Gang, Workers: 8, CardsPerWorker: 1, CPUMilli: 8000, Models: []string{"huawei-ascend-910c"}}, nil},
	} {
		u := lim.FitsEmpty(&tt.job, nil, Config{})
		if tt.want == nil {
			if u != nil {
				t.Errorf("%s: %v", tt.name, u)
			}
			continue
		}
		if u == nil {
			t.Errorf("%s: fits", tt.name)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(u.Text, w) {
				t.Errorf("%s: %q lacks %q", tt.name, u.Text, w)
			}
		}
	}
	// 9 workers of 8 cores: 4 nodes of 16 cores hold 8, though their cards
	// would hold 32.
	big := model.Job{ID: "i", Tenant: "t", Kind: model.Gang, Workers: 9, CardsPerWorker: 1, CPUMilli: 8000, Models: []string{"huawei-ascend-910c"}}
	if u := lim.FitsEmpty(&big, nil, Config{}); u == nil || !strings.Contains(u.Text, "8 such workers") || !strings.Contains(u.Text, "8 cores of host CPU") {
		t.Errorf("9 × 8 cores on 4 nodes of 16 cores: %+v", u)
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

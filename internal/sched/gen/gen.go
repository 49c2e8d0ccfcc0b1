// Package gen generates networks and job streams for the scheduler's
// tests, benchmarks and `suanli bench`: deterministic for a seed, of any
// size.
package gen

import (
	"fmt"
	"math/rand/v2"

	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/network"
)

// Models are the 8-card models of known FP16 throughput a generated
// network draws from.
var Models = []string{
	"huawei-ascend-910b4", "huawei-ascend-910c", "cambricon-mlu370-x8", "iluvatar-bi-v100",
	"kunlunxin-r200", "metax-c500", "mthreads-mtt-s4000", "nvidia-a800", "nvidia-h20",
}

// NetConfig sizes a generated network.
type NetConfig struct {
	Nodes int    // nodes of 8 cards (default 12,500: 100,000 cards)
	Sites int    // default 32
	Seed  uint64 // default 1
	// MinDomain and MaxDomain bound the nodes per high-bandwidth domain
	// (default 4 and 48).
	MinDomain, MaxDomain int
}

// Network generates a national network: Sites sites (a quarter leased, with
// varied power prices and PUE), each with two to four pools of different
// models, domains of MinDomain..MaxDomain nodes.
func Network(cfg NetConfig) (*network.Network, error) {
	if cfg.Nodes <= 0 {
		cfg.Nodes = 12_500
	}
	if cfg.Sites <= 0 {
		cfg.Sites = 32
	}
	if cfg.Seed == 0 {
		cfg.Seed = 1
	}
	if cfg.MinDomain <= 0 {
		cfg.MinDomain = 4
	}
	if cfg.MaxDomain < cfg.MinDomain {
		cfg.MaxDomain = max(48, cfg.MinDomain)
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5ca1ab1e))
	spec := network.Spec{Name: fmt.Sprintf("generated-%d", cfg.Nodes*8)}
	regions := []string{"North", "East", "South", "West", "Central", "Northeast"}
	left := cfg.Nodes
	for i := 0; i < cfg.Sites; i++ {
		nodes := left / (cfg.Sites - i)
		left -= nodes
		ss := network.SiteSpec{
			ID: fmt.Sprintf("s%02d", i), Region: regions[i%len(regions)], Operator: "generated",
			Ownership: "self-built", PUE: 1.1 + float64(rng.IntN(40))/100, PowerPrice: 0.25 + float64(rng.IntN(50))/100,
			Lat: 30, Lon: 110,
		}
		if i%4 == 3 {
			ss.Ownership = "leased"
		}
		pools := 2 + rng.IntN(3)
		for p := 0; p < pools && nodes > 0; p++ {
			n := nodes / (pools - p)
			nodes -= n
			if n == 0 {
				continue
			}
			dom := cfg.MinDomain + rng.IntN(cfg.MaxDomain-cfg.MinDomain+1)
			ss.Pools = append(ss.Pools, network.PoolSpec{
				Model: Models[(i+p*3)%len(Models)], Nodes: n, CardsPerNode: 8, NodesPerDomain: dom,
			})
		}
		spec.Sites = append(spec.Sites, ss)
	}
	return spec.Expand(catalog.Default())
}

// Mix is the shares of job shapes in a stream, in thousandths.
type Mix struct {
	SingleNode int // batch jobs of 1, 2, 4 or 8 whole cards
	Fractional int // inference replicas sharing one card
	Gang       int // gangs of 16..1,024 cards
}

// DefaultMix is 70% single-node jobs, 20% fractional inference, 10% gangs.
var DefaultMix = Mix{SingleNode: 700, Fractional: 200, Gang: 100}

// Stream generates n jobs of the mix, deterministic for the seed.
func Stream(n int, mix Mix, seed uint64) []model.Job {
	rng := rand.New(rand.NewPCG(seed, 0x10b5))
	total := mix.SingleNode + mix.Fractional + mix.Gang
	if total <= 0 {
		mix, total = DefaultMix, 1000
	}
	jobs := make([]model.Job, n)
	for i := range jobs {
		j := model.Job{ID: model.JobID(fmt.Sprintf("j%07d", i)), Tenant: model.TenantID(fmt.Sprintf("t%d", rng.IntN(8))), SubmitTime: int64(i)}
		x := rng.IntN(total)
		switch {
		case x < mix.SingleNode:
			j.Kind, j.Workers, j.CardsPerWorker = model.Batch, 1, []int{1, 1, 1, 2, 2, 4, 8}[rng.IntN(7)]
		case x < mix.SingleNode+mix.Fractional:
			j.Kind, j.Workers = model.Inference, 1+rng.IntN(2)
			j.ShareMilli = []int{100, 250, 300, 500, 700}[rng.IntN(5)]
			j.MemMiB = int64(1024 * (1 + rng.IntN(8)))
		default:
			cards := 16 << rng.IntN(7) // 16..1,024
			j.Kind, j.CardsPerWorker, j.Workers = model.Gang, 8, cards/8
			j.Topology = model.TopoDomain
		}
		if rng.IntN(4) == 0 {
			m := Models[rng.IntN(len(Models))]
			j.Models = []string{m}
		}
		j.HostDefaults() // host CPU and memory in the model: the kind's defaults
		jobs[i] = j
	}
	return jobs
}

// Gangs generates n gangs of W workers × 8 cards.
func Gangs(n, cards int, seed uint64) []model.Job {
	jobs := make([]model.Job, n)
	for i := range jobs {
		jobs[i] = model.Job{ID: model.JobID(fmt.Sprintf("g%07d", i)), Tenant: "t", Kind: model.Gang,
			Workers: cards / 8, CardsPerWorker: 8, Topology: model.TopoDomain}
		jobs[i].HostDefaults()
	}
	return jobs
}

// SingleNode generates n batch jobs of 1..8 cards.
func SingleNode(n int, seed uint64) []model.Job {
	return Stream(n, Mix{SingleNode: 1}, seed)
}

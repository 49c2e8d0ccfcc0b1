package core

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/network"
)

// benchModels are eight models the catalog gives an FP16 figure.
var benchModels = []string{
	"huawei-ascend-910c", "huawei-ascend-910b4", "cambricon-mlu370-x8", "mthreads-mtt-s4000",
	"iluvatar-bi-v100", "metax-c500", "thead-ppu", "kunlunxin-r200",
}

// syntheticNetwork generates a network of nodes×8 cards over sites sites,
// each site one pool of one of the eight models.
func syntheticNetwork(tb testing.TB, sites, nodes int) *network.Network {
	tb.Helper()
	spec := network.Spec{Name: fmt.Sprintf("synthetic-%d", nodes*8)}
	for i := 0; i < sites; i++ {
		n := nodes / sites
		if i < nodes%sites {
			n++
		}
		spec.Sites = append(spec.Sites, network.SiteSpec{
			ID: fmt.Sprintf("s%02d", i), Region: []string{"east", "north", "west", "south"}[i%4],
			Operator: "bench", Ownership: "self-built", PowerPrice: 0.3 + float64(i%7)/20,
			Pools: []network.PoolSpec{{Model: benchModels[i%len(benchModels)], Nodes: n, CardsPerNode: 8}},
		})
	}
	net, err := spec.Expand(catalog.Default())
	if err != nil {
		tb.Fatal(err)
	}
	return net
}

// benchCore is a 100,000-card network filled with 8-card jobs and 10,000
// more jobs blocked behind them.
type benchCore struct {
	c       *Core
	running []model.JobID
	now     int64
	n       int
}

func newBenchCore(tb testing.TB, pending int) *benchCore {
	net := syntheticNetwork(tb, 32, 12_500)
	b := &benchCore{c: New(net, Config{})}
	for i := 0; i < 4; i++ {
		b.step(tb, TenantUpserted{Tenant: model.Tenant{ID: model.TenantID(fmt.Sprintf("t%d", i)), Class: model.Private, Weight: 1 + i%2}})
	}
	for i := range net.Nodes {
		b.submit(tb, model.Job{Tenant: model.TenantID(fmt.Sprintf("t%d", i%4)), Kind: model.Batch, Workers: 1, CardsPerWorker: 8,
			Priority: 50, Models: []string{net.Nodes[i].Model}})
	}
	for i := 0; i < pending; i++ {
		b.submit(tb, b.queuedJob(i))
	}
	if len(b.c.pending) != 0 {
		tb.Fatalf("%d jobs left pending", len(b.c.pending))
	}
	return b
}

// queuedJob is the i-th job of the queue: 1 to 8 cards, three priority
// classes below the running jobs', one model or (one in five) any.
func (b *benchCore) queuedJob(i int) model.Job {
	j := model.Job{Tenant: model.TenantID(fmt.Sprintf("t%d", i%4)), Kind: model.Batch, Workers: 1,
		CardsPerWorker: []int{1, 2, 4, 8}[i%4], Priority: 10 * (i % 3)}
	if i%5 != 0 {
		j.Models = []string{benchModels[i%len(benchModels)]}
	}
	return j
}

func (b *benchCore) submit(tb testing.TB, j model.Job) {
	b.n++
	j.ID = model.JobID(fmt.Sprintf("j%d", b.n))
	b.step(tb, JobSubmitted{At: b.now, Job: j})
}

func (b *benchCore) step(tb testing.TB, ev Event) {
	if err := b.c.Step(ev); err != nil {
		tb.Fatal(err)
	}
	rd := b.c.Ready()
	for _, p := range rd.Placements {
		b.running = append(b.running, p.Job)
	}
	b.c.Advance(rd)
}

// BenchmarkStep measures one Step → Ready → Advance cycle with 10,000 jobs
// blocked on a full 100,000-card network: a job finishing (its cards wake
// the jobs waiting for its model), or a job submitted.
//
//	go test ./internal/core -run '^$' -bench Step -benchtime 200x -count 5
func BenchmarkStep(b *testing.B) {
	bc := newBenchCore(b, 10_000)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	heapMB := float64(ms.HeapAlloc) / (1 << 20)
	b.Run("cards=100000/pending=10000/event=finish", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			bc.now++
			id := bc.running[0]
			bc.running = bc.running[1:]
			bc.step(b, JobFinished{At: bc.now, Job: id})
			b.StopTimer()
			for q := bc.queued(); q < 10_000; q++ { // keep the queue at 10,000
				bc.submit(b, bc.queuedJob(bc.n))
			}
			b.StartTimer()
		}
		b.ReportMetric(float64(bc.queued()), "queued")
		b.ReportMetric(heapMB, "heap-MB")
	})
	b.Run("cards=100000/pending=10000/event=submit", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			bc.now++
			bc.submit(b, model.Job{Tenant: "t1", Kind: model.Batch, Workers: 1, CardsPerWorker: 2})
		}
	})
}

func (b *benchCore) queued() int {
	n := len(b.c.pending)
	for _, e := range b.c.jobs {
		if e.st.State == model.Blocked {
			n++
		}
	}
	return n
}

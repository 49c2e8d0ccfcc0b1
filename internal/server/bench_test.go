package server

import (
	"context"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/httpapi"
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/store"
	"github.com/suanli/suanli/internal/store/bolt"
	"github.com/suanli/suanli/internal/store/etcd"
	"github.com/suanli/suanli/internal/store/etcdtest"
)

// benchSubmits submits b.N jobs over loopback HTTP from 64 goroutines and
// reports acknowledged (durable) submits per second.
func benchSubmits(b *testing.B, st store.Store) {
	e := start(b, st)
	c := e.client(v1.RoleAdmin)
	c.HTTP = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128}}
	spec := v1.JobSpec{Tenant: "acme", Kind: "batch", Workers: 1, CardsPerWorker: 1}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	next := make(chan struct{}, 1024)
	go func() {
		for range b.N {
			next <- struct{}{}
		}
		close(next)
	}()
	for range 64 {
		wg.Go(func() {
			for range next {
				if _, err := c.Submit(context.Background(), spec); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "submits/s")
}

func BenchmarkSubmit(b *testing.B) {
	b.Run("store=embedded", func(b *testing.B) {
		st, err := bolt.Open(bolt.Config{Dir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		benchSubmits(b, st)
	})
	b.Run("store=etcd3", func(b *testing.B) {
		c := etcdtest.Start(b, 3)
		cli, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), Logger: zap.NewNop()})
		if err != nil {
			b.Fatal(err)
		}
		defer cli.Close()
		benchSubmits(b, etcd.New(cli, etcd.Config{}))
	})
}

// BenchmarkSubmitToPlaced: with 10,000 jobs pending (blocked on a model
// the network lacks), the time from a submit's acknowledgement to its
// placement, as the job's events report it.
func BenchmarkSubmitToPlaced(b *testing.B) {
	st, err := bolt.Open(bolt.Config{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	e := start(b, st)
	ctx := context.Background()
	p := httpapi.Principal{TokenID: "bench", Role: v1.RoleAdmin}
	// The backlog's tenant has a quota of 1 GFLOPS: its jobs stay blocked.
	if _, err := e.srv.PutTenant(ctx, p, model.Tenant{ID: "backlog", Class: model.Private, QuotaGFLOPS: 1, Weight: 1}); err != nil {
		b.Fatal(err)
	}
	spec, err := httpapi.JobFromSpec(v1.JobSpec{Kind: "batch", Workers: 1, CardsPerWorker: 1}, "backlog")
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for range 10_000 / 32 {
				if _, err := e.srv.Submit(ctx, p, spec, nil); err != nil {
					b.Error(err)
				}
			}
		})
	}
	wg.Wait()
	c := e.client(v1.RoleAdmin)
	// Let the scheduler take up the backlog.
	for {
		l, err := c.Jobs(ctx, v1.JobFilter{State: v1.StatePending, Limit: 1})
		if err != nil {
			b.Fatal(err)
		}
		if len(l.Jobs) == 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	job, _ := httpapi.JobFromSpec(v1.JobSpec{Kind: "batch", Workers: 1, CardsPerWorker: 1}, "acme")
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		j, err := e.srv.Submit(ctx, p, job, nil)
		if err != nil {
			b.Fatal(err)
		}
		for {
			got, err := e.srv.Job(ctx, j.ID)
			if err != nil {
				b.Fatal(err)
			}
			if got.State == v1.StatePlaced {
				break
			}
			time.Sleep(200 * time.Microsecond)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

package server

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/audit"
	"github.com/suanli/suanli/internal/core"
	"github.com/suanli/suanli/internal/store/mem"
)

// TestServerServiceYields: with attained-service scheduling (serve --las),
// a checkpointed gang that has received more than the first level of
// service yields the 910B4 cards to one that has received none, and the
// audit says why.
func TestServerServiceYields(t *testing.T) {
	net := smallNetwork(t)
	base := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	var offset atomic.Int64
	now := func() time.Time { return base.Add(time.Duration(offset.Load())) }
	svc := core.DefaultService
	svc.LevelsSec, svc.MinRunSec = []int64{60}, 60
	st := mem.New(mem.Config{})
	srv, url, _ := runServer(t, Config{Store: st, Network: net, Now: now, TickEvery: 10 * time.Millisecond, Service: svc})
	admin := v1.NewClient(url, adminToken(t, srv))
	ctx := context.Background()
	if _, err := admin.PutTenant(ctx, v1.Tenant{ID: "acme", Class: "private"}); err != nil {
		t.Fatal(err)
	}
	const b4 = "huawei-ascend-910b4"
	spec := v1.JobSpec{Tenant: "acme", Kind: "gang", Workers: 4, CardsPerWorker: 8, Models: []string{b4}}
	long, err := admin.Submit(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	long = waitState(t, admin, long.ID, v1.StatePlaced)
	if _, err := srv.ReportWorker(ctx, fleetAgent(net), long.ID, v1.WorkerReport{Node: long.Placement.Assignments[0].Node, Worker: 0, PlacedAt: long.PlacedAt,
		State: v1.StateRunning, At: now(), Checkpoint: &v1.Checkpoint{Step: 10, At: now()}}); err != nil {
		t.Fatal(err)
	}
	short, err := admin.Submit(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	offset.Store(int64(5 * time.Minute))
	waitState(t, admin, short.ID, v1.StatePlaced)
	deadline := time.Now().Add(10 * time.Second)
	for {
		es, err := audit.Read(ctx, st, 0, 100_000)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			if e.Action == "sched.preempt" && e.Target == long.ID {
				if !strings.Contains(e.Detail, "attained service") || !strings.Contains(e.Detail, short.ID) {
					t.Errorf("audit detail %q does not say why", e.Detail)
				}
				// The store keeps the service it attained, which a new
				// leader restores (core's TestServiceRestoredLevel).
				for r, _, err := srv.loadJob(ctx, long.ID); err != nil || r.Attained <= 0; r, _, err = srv.loadJob(ctx, long.ID) {
					if err != nil {
						t.Fatal(err)
					}
					if time.Now().After(deadline) {
						t.Fatalf("the stored record of %s says it attained %.0f s of service; want what it ran", long.ID, r.Attained)
					}
					time.Sleep(10 * time.Millisecond)
				}
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no sched.preempt audit entry for the job that yielded")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

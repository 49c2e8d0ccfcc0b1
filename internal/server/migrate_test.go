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

// TestServerMigratesToFasterModel: the server's scheduler moves a running
// job that saved a checkpoint to a faster model once that model's cards
// free up and the move pays, and audits why; a job without a checkpoint
// stays.
func TestServerMigratesToFasterModel(t *testing.T) {
	net := smallNetwork(t)
	base := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	var offset atomic.Int64
	now := func() time.Time { return base.Add(time.Duration(offset.Load())) }
	mig := core.DefaultMigration
	mig.MinIntervalSec, mig.RestoreCostSec = 60, 30
	st := mem.New(mem.Config{})
	srv, url, _ := runServer(t, Config{Store: st, Network: net, Now: now, TickEvery: 10 * time.Millisecond, Migration: mig})
	admin := v1.NewClient(url, adminToken(t, srv))
	ctx := context.Background()
	if _, err := admin.PutTenant(ctx, v1.Tenant{ID: "acme", Class: "private"}); err != nil {
		t.Fatal(err)
	}
	const b4 = "huawei-ascend-910b4"
	blocker, err := admin.Submit(ctx, v1.JobSpec{Tenant: "acme", Kind: "gang", Workers: 4, CardsPerWorker: 8, Models: []string{b4}})
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, admin, blocker.ID, v1.StatePlaced)
	rates := map[string]float64{b4: 3, mlu: 1}
	var jobs []*v1.Job
	for range 2 {
		j, err := admin.Submit(ctx, v1.JobSpec{Tenant: "acme", Kind: "batch", Workers: 1, CardsPerWorker: 1, Models: []string{mlu, b4}, Rates: rates})
		if err != nil {
			t.Fatal(err)
		}
		j = waitState(t, admin, j.ID, v1.StatePlaced)
		if m := j.Placement.Assignments[0].Model; m != mlu {
			t.Fatalf("placed on %s while the 910B4s are taken", m)
		}
		jobs = append(jobs, j)
	}
	mover, stayer := jobs[0], jobs[1]
	if _, err := srv.ReportWorker(ctx, fleetAgent(net), mover.ID, v1.WorkerReport{Node: mover.Placement.Assignments[0].Node, Worker: 0, PlacedAt: mover.PlacedAt,
		State: v1.StateRunning, At: now(), Checkpoint: &v1.Checkpoint{Step: 10, At: now()}}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Cancel(ctx, blocker.ID); err != nil {
		t.Fatal(err)
	}
	// Age 10 min: a gain of 400 s at 3× beats 2 × 30 s.
	offset.Store(int64(10 * time.Minute))
	deadline := time.Now().Add(10 * time.Second)
	for {
		j, err := admin.Job(ctx, mover.ID)
		if err != nil {
			t.Fatal(err)
		}
		if j.Placement != nil && j.Placement.Assignments[0].Model == b4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the job did not move: %s on %+v", j.State, j.Placement)
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // ticks: the one without a checkpoint stays
	if j, _ := admin.Job(ctx, stayer.ID); j.Placement == nil || j.Placement.Assignments[0].Model != mlu {
		t.Errorf("a job without a checkpoint moved: %+v", j.Placement)
	}
	es, err := audit.Read(ctx, st, 0, 100_000)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range es {
		if e.Action == "sched.migrate" && e.Target == mover.ID {
			found = strings.Contains(e.Detail, "migrated from "+mlu) && strings.Contains(e.Detail, "checkpoint-restore cost")
			if !found {
				t.Errorf("audit detail %q does not say why", e.Detail)
			}
		}
	}
	if !found {
		t.Error("no sched.migrate audit entry for the move")
	}
}

package server

import (
	"context"
	"sync"
	"testing"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/core"
	"github.com/suanli/suanli/internal/store/mem"
)

// reportFailed sends a failed worker report for the job's first worker
// with an agent token bound to its node.
func reportFailed(t *testing.T, admin *v1.Client, url string, j *v1.Job, requeue bool) {
	t.Helper()
	ctx := context.Background()
	a := j.Placement.Assignments[0]
	tok, err := admin.CreateToken(ctx, v1.TokenRequest{Role: v1.RoleAgent, Node: a.Node})
	if err != nil {
		t.Fatal(err)
	}
	code := 137
	if _, err := v1.NewClient(url, tok.Secret).ReportWorker(ctx, j.ID, v1.WorkerReport{Node: a.Node, Worker: a.Worker, PlacedAt: j.PlacedAt,
		State: v1.StateFailed, ExitCode: &code, Reason: "pod evicted: the node was low on memory", Requeue: requeue, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
}

// TestSiteEvictionRequeues: a worker its site evicted ("requeue me, not my
// fault") requeues its job, which is placed again, using none of its
// retries — a job without any retries does not fail; the same report
// without requeue fails it.
func TestSiteEvictionRequeues(t *testing.T) {
	e := start(t, mem.New(mem.Config{}))
	ctx := context.Background()
	admin, tenant := e.client(v1.RoleAdmin), e.client(v1.RoleTenant)
	sub, err := tenant.Submit(ctx, v1.JobSpec{Kind: "batch", Workers: 1, CardsPerWorker: 1})
	if err != nil {
		t.Fatal(err)
	}
	j := waitState(t, tenant, sub.ID, v1.StatePlaced)
	reportFailed(t, admin, e.url, j, true)
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := tenant.Job(ctx, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State == v1.StateFailed {
			t.Fatalf("an evicted worker failed its job: %s", got.Reason)
		}
		if got.State == v1.StatePlaced && !got.PlacedAt.Equal(*j.PlacedAt) {
			if len(got.Retries) != 0 {
				t.Errorf("an eviction used a retry: %+v", got.Retries)
			}
			j = got
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s not placed again 10 s after its eviction: %s %s", j.ID, got.State, got.Reason)
		}
		time.Sleep(5 * time.Millisecond)
	}
	reportFailed(t, admin, e.url, j, false)
	if got := waitState(t, tenant, j.ID, v1.StateFailed); got.Reason == "" {
		t.Error("a failed job without a reason")
	}
}

// TestRetryPauseSurvivesLeaderChange: a retried job in its backoff pause
// stays out of the queue when a new leader takes over (it restores the
// pause from the job record), and is placed once the pause ends.
func TestRetryPauseSurvivesLeaderChange(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	cfg := Config{Store: mem.New(mem.Config{}), Network: smallNetwork(t), Now: clock}
	srv, url, stop := runServer(t, cfg)
	admin := v1.NewClient(url, adminToken(t, srv))
	ctx := context.Background()
	if _, err := admin.PutTenant(ctx, v1.Tenant{ID: "acme", Class: "private"}); err != nil {
		t.Fatal(err)
	}
	sub, err := admin.Submit(ctx, v1.JobSpec{Tenant: "acme", Kind: "batch", Workers: 1, CardsPerWorker: 1, MaxRetries: 1, RetryBackoffSec: 600})
	if err != nil {
		t.Fatal(err)
	}
	j := waitState(t, admin, sub.ID, v1.StatePlaced)
	reportFailed(t, admin, url, j, false)
	j = waitState(t, admin, j.ID, v1.StatePending)
	if len(j.Retries) != 1 || j.Reason != core.StopRetried {
		t.Fatalf("after the failure: %s %s %+v", j.State, j.Reason, j.Retries)
	}
	stop()

	_, url2, _ := runServer(t, cfg) // a new leader on the same store
	admin2 := v1.NewClient(url2, admin.Token)
	mu.Lock()
	now = now.Add(5 * time.Minute) // half the pause
	mu.Unlock()
	time.Sleep(1500 * time.Millisecond) // the new leader's restore and a few ticks
	if got, err := admin2.Job(ctx, j.ID); err != nil || got.State != v1.StatePending || got.Placement != nil {
		t.Fatalf("the new leader placed the job in its pause: %+v %v", got, err)
	}
	mu.Lock()
	now = now.Add(5*time.Minute + time.Second) // the pause is over
	mu.Unlock()
	waitState(t, admin2, j.ID, v1.StatePlaced)
}

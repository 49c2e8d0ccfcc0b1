package server

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/agent"
	"github.com/suanli/suanli/internal/agent/workload"
	"github.com/suanli/suanli/internal/device"
	"github.com/suanli/suanli/internal/store/mem"
)

// TestAgentsRunJobs: real node agents (simulated devices and workers)
// register with the real server over HTTP, run a gang the scheduler
// placed on their nodes, report it running with checkpoints, and the job
// completes when every worker has; the nodes' state shows what they
// reported.
func TestAgentsRunJobs(t *testing.T) {
	if testing.Short() {
		t.Skip("runs simulated agents for a few seconds")
	}
	period := 200 * time.Millisecond
	srv, url, _ := runServer(t, Config{Store: mem.New(mem.Config{}), Network: smallNetwork(t), Heartbeat: period, TickEvery: 100 * time.Millisecond})
	admin := v1.NewClient(url, adminToken(t, srv))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := admin.PutTenant(ctx, v1.Tenant{ID: "acme", Class: "private"}); err != nil {
		t.Fatal(err)
	}
	tok, err := admin.CreateToken(ctx, v1.TokenRequest{Role: v1.RoleAgent, Name: "agents", Sites: allSites(srv.net)})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := device.ParseSimulate("MLU370-X8x8")
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 16}}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	for i, n := range nodesOf(t, "cambricon-mlu370-x8") {
		a, err := agent.NewInProcess(hc, url, tok.Secret, n, "gz", "", rep,
			workload.Sim{Seed: 7, Second: 10 * time.Millisecond, CheckpointEvery: 5}, v1.Lease{Period: period, Missed: 3}, uint64(i+1))
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() { _ = a.Run(ctx) })
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		ns, err := admin.Nodes(ctx, "gz")
		if err != nil {
			t.Fatal(err)
		}
		ready := 0
		for _, n := range ns {
			if n.State == v1.NodeReady && len(n.Devices) == 8 {
				ready++
			}
		}
		if ready == len(ns) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nodes not registered: %+v", ns)
		}
		time.Sleep(20 * time.Millisecond)
	}
	j, err := admin.Submit(ctx, v1.JobSpec{Tenant: "acme", Kind: "gang", Workers: 2, CardsPerWorker: 8, Models: []string{"cambricon-mlu370-x8"}, RuntimeSec: 40})
	if err != nil {
		t.Fatal(err)
	}
	sawRunning := false
	for {
		got, err := admin.Job(ctx, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State == v1.StateRunning {
			sawRunning = true
		}
		if got.State == v1.StateCompleted {
			if !sawRunning || got.Checkpoint == 0 {
				t.Errorf("completed without being seen running (%v) or a checkpoint (%d)", sawRunning, got.Checkpoint)
			}
			break
		}
		if got.State == v1.StateFailed || time.Now().After(deadline) {
			t.Fatalf("job is %s (%s)", got.State, got.Reason)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

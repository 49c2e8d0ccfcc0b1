//go:build linux

package server

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/agent"
	"github.com/suanli/suanli/internal/agent/workload"
	"github.com/suanli/suanli/internal/device"
	"github.com/suanli/suanli/internal/store/mem"
)

// TestWorkersSeeLearnedWorkShares: progress reports teach the server that
// a class runs far faster on MLU370 cards than its default figure says;
// a mixed-vendor gang of the class (MLU370 and 910B4 across two sites) is
// then split by the learned rates, not by peak FP16, and real agents hand
// each worker process its share in SUANLI_WORK_SHARE_MILLI. The
// explanation names the rates: learned on the MLU370, default on the
// 910B4.
func TestWorkersSeeLearnedWorkShares(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real agents and processes for a few seconds")
	}
	const mlu, ascend, class = "cambricon-mlu370-x8", "huawei-ascend-910b4", "vision-train"
	net := smallNetwork(t)
	period := 500 * time.Millisecond // a loaded machine misses shorter beats
	quiet := slog.New(slog.NewTextHandler(tlog{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, url, _ := runServer(t, Config{Store: mem.New(mem.Config{}), Network: net, Heartbeat: period,
		TickEvery: 20 * time.Millisecond, RatesEvery: 20 * time.Millisecond, Log: quiet})
	admin := v1.NewClient(url, adminToken(t, srv))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := admin.PutTenant(ctx, v1.Tenant{ID: "acme", Class: "private"}); err != nil {
		t.Fatal(err)
	}

	// Learn: a job of the class reports eight times the default on one
	// MLU370 card.
	def := entryOf(t, admin, class, mlu).Default
	first, err := admin.Submit(ctx, v1.JobSpec{Tenant: "acme", Kind: "batch", Workers: 1, CardsPerWorker: 1, Models: []string{mlu}, WorkloadClass: class})
	if err != nil {
		t.Fatal(err)
	}
	placed := waitState(t, admin, first.ID, v1.StatePlaced)
	for i := range maxJobReports {
		until := time.Date(2026, 12, 1, 0, 0, i, 0, time.UTC)
		if _, err := srv.ReportWorker(ctx, fleetAgent(net), first.ID, v1.WorkerReport{Node: placed.Placement.Assignments[0].Node, Worker: 0, PlacedAt: placed.PlacedAt,
			State: v1.StateRunning, At: until, Progress: &v1.Progress{Work: 8 * def * 10, Seconds: 10, Reports: 1, Until: until}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := admin.Cancel(ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	waitState(t, admin, first.ID, v1.StateCancelled)
	rate := map[string]float64{mlu: entryOf(t, admin, class, mlu).Rate, ascend: entryOf(t, admin, class, ascend).Rate}
	if !(rate[mlu] > 2*def) {
		t.Fatalf("learned %s rate %g, want well above the default %g", mlu, rate[mlu], def)
	}
	waitCoreRate(t, admin, class, mlu, rate[mlu])

	// Real agents on every node of both sites, running real processes.
	tok, err := admin.CreateToken(ctx, v1.TokenRequest{Role: v1.RoleAgent, Name: "agents", Sites: []string{"gz", "nx"}})
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	done := make(chan struct{}, 8)
	started := 0
	defer func() {
		cancel()
		for range started {
			<-done
		}
	}()
	for _, m := range []string{mlu, ascend} {
		rep, err := device.ParseSimulate(m + "x8")
		if err != nil {
			t.Fatal(err)
		}
		site := map[string]string{mlu: "gz", ascend: "nx"}[m]
		for _, n := range nodesOf(t, m) {
			c := v1.NewClient(url, tok.Secret)
			c.HTTP = &http.Client{Transport: http.DefaultTransport}
			a, err := agent.New(agent.Config{Client: c, Node: n, Site: site, Discoverer: device.Simulated{Report: rep},
				Executor: workload.Proc{BaseEnv: os.Environ()}, Lease: v1.Lease{Period: period, Missed: 3}, Rediscover: -1,
				DataDir: t.TempDir(), Log: quiet})
			if err != nil {
				t.Fatal(err)
			}
			started++
			go func() { defer func() { done <- struct{}{} }(); _ = a.Run(ctx) }()
		}
	}

	// Each worker writes the share it was given, then runs until told to
	// stop (the placement is read meanwhile).
	stopFile := filepath.Join(out, "stop")
	script := fmt.Sprintf(`echo "$%[1]s" > %[2]s/.w$%[3]s && mv %[2]s/.w$%[3]s %[2]s/w$%[3]s; while [ ! -e %[4]s ]; do sleep 0.05; done`,
		workload.EnvWorkShareMilli, out, workload.EnvWorker, stopFile)
	j, err := admin.Submit(ctx, v1.JobSpec{Tenant: "acme", Kind: "gang", Workers: 5, CardsPerWorker: 8, Models: []string{mlu, ascend},
		Mixed: true, CrossSite: true, WorkloadClass: class, Workload: &v1.Workload{Command: []string{"/bin/sh", "-c", script}}})
	if err != nil {
		t.Fatal(err)
	}
	got := waitStateFor(t, admin, j.ID, 30*time.Second, v1.StateRunning, v1.StateFailed)
	if got.State != v1.StateRunning || got.Placement == nil {
		t.Fatalf("gang %s: %s", got.State, got.Reason)
	}
	for w := range 5 {
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if _, err := os.Stat(filepath.Join(out, "w"+strconv.Itoa(w))); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("worker %d did not start", w)
			}
		}
	}
	// Read while it runs: a finished job's explanation is its end.
	ex, err := admin.Explain(ctx, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"work shares by throughput (class " + class, fmt.Sprintf("%s %.4g/s per card learned", mlu, rate[mlu]),
		fmt.Sprintf("%s %.4g/s per card default", ascend, rate[ascend])} {
		if !strings.Contains(ex.Summary, w) {
			t.Errorf("explanation %q does not name %q", ex.Summary, w)
		}
	}
	if err := os.WriteFile(stopFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if end := waitStateFor(t, admin, j.ID, 30*time.Second, v1.StateCompleted, v1.StateFailed); end.State != v1.StateCompleted {
		t.Fatalf("gang %s: %s", end.State, end.Reason)
	}
	var total, peakTotal float64
	models := map[string]bool{}
	for _, a := range got.Placement.Assignments {
		total += rate[a.Model] * float64(len(a.Cards))
		g, _, _ := net.Model(a.Model).FP16GFLOPS()
		peakTotal += float64(g) * float64(len(a.Cards))
		models[a.Model] = true
	}
	if len(models) != 2 {
		t.Fatalf("the gang uses models %v, want both", models)
	}
	for _, a := range got.Placement.Assignments {
		want := 1000 * rate[a.Model] * float64(len(a.Cards)) / total
		g, _, _ := net.Model(a.Model).FP16GFLOPS()
		peak := 1000 * float64(g) * float64(len(a.Cards)) / peakTotal
		if math.Abs(float64(a.WorkShareMilli)-want) >= 1 || math.Abs(want-peak) < 5 {
			t.Errorf("worker %d on %s: share %d‰, want %.1f‰ by the learned rates (peak would give %.1f‰)", a.Worker, a.Model, a.WorkShareMilli, want, peak)
		}
		b, err := os.ReadFile(filepath.Join(out, "w"+strconv.Itoa(a.Worker)))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("worker %d on %s: %d‰ (peak FP16 would give %.1f‰)", a.Worker, a.Model, a.WorkShareMilli, peak)
		if seen := strings.TrimSpace(string(b)); seen != strconv.Itoa(a.WorkShareMilli) {
			t.Errorf("worker %d saw SUANLI_WORK_SHARE_MILLI=%q, placed with %d", a.Worker, seen, a.WorkShareMilli)
		}
	}
}

// waitCoreRate waits until the scheduler ranks jobs of the class by the
// rate on the model (the server hands it the table every RatesEvery): a
// probe job's explanation names it.
func waitCoreRate(t *testing.T, c *v1.Client, class, modelID string, rate float64) {
	t.Helper()
	ctx := context.Background()
	want := fmt.Sprintf("%s at %.4g/s per card", modelID, rate)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		j, err := c.Submit(ctx, v1.JobSpec{Tenant: "acme", Kind: "batch", Workers: 1, CardsPerWorker: 1, Models: []string{modelID}, WorkloadClass: class})
		if err != nil {
			t.Fatal(err)
		}
		waitState(t, c, j.ID, v1.StatePlaced, v1.StateRunning)
		ex, err := c.Explain(ctx, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Cancel(ctx, j.ID); err != nil {
			t.Fatal(err)
		}
		waitState(t, c, j.ID, v1.StateCancelled)
		if strings.Contains(ex.Summary, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the scheduler still explains %q, not %q", ex.Summary, want)
		}
	}
}

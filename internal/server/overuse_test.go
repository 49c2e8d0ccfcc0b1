package server

import (
	"strings"
	"testing"
	"testing/synctest"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/httpapi"
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/store/mem"
)

// TestOveruseShowsOnTheJob: an agent's running report that a fractional
// worker uses more than its share shows on the job, with worker and node,
// and the job keeps running.
func TestOveruseShowsOnTheJob(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const period = time.Second
		srv, ctx := runInBubble(t, Config{Store: mem.New(mem.Config{}), Network: smallNetwork(t), Heartbeat: period, TickEvery: period})
		agent := fleetAgent(srv.net)
		const mlu = "cambricon-mlu370-x8"
		registerAll(t, ctx, srv, agent, mlu)
		spec := model.Job{Tenant: "acme", Kind: model.Inference, Workers: 1, ShareMilli: 500, MemMiB: 8192, Models: []string{mlu}}
		j, err := srv.Submit(ctx, httpapi.Principal{TokenID: "tok-admin", Role: v1.RoleAdmin}, spec, nil)
		if err != nil {
			t.Fatal(err)
		}
		var placed v1.Job
		for range 100 {
			if placed, err = srv.Job(ctx, j.ID); err != nil {
				t.Fatal(err)
			}
			if placed.Placement != nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if placed.Placement == nil {
			t.Fatalf("not placed: %+v", placed)
		}
		a := placed.Placement.Assignments[0]
		for _, r := range []v1.WorkerReport{
			{Node: a.Node, Worker: a.Worker, PlacedAt: placed.PlacedAt, State: v1.StateRunning},
			{Node: a.Node, Worker: a.Worker, PlacedAt: placed.PlacedAt, State: v1.StateRunning, Overuse: "card 0 uses 12000 MiB of device memory; its fractional workers were given 8192 MiB"},
		} {
			if _, err := srv.ReportWorker(ctx, agent, j.ID, r); err != nil {
				t.Fatal(err)
			}
		}
		got, err := srv.Job(ctx, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if (got.State != v1.StatePlaced && got.State != v1.StateRunning) || !strings.Contains(got.Overuse, "worker 0 on "+a.Node) || !strings.Contains(got.Overuse, "12000 MiB") {
			t.Fatalf("job %s, overuse %q", got.State, got.Overuse)
		}
	})
}

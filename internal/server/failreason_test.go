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

// TestFailedWorkerKeepsReason: a worker that fails fails its job, and the
// job keeps the reason the agent gave (worker, node, exit code) after the
// scheduling loop has recorded the job's end.
func TestFailedWorkerKeepsReason(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const period = time.Second
		srv, ctx := runInBubble(t, Config{Store: mem.New(mem.Config{}), Network: smallNetwork(t), Heartbeat: period, TickEvery: period})
		agent := fleetAgent(srv.net)
		const mlu = "cambricon-mlu370-x8"
		registerAll(t, ctx, srv, agent, mlu)
		spec := model.Job{Tenant: "acme", Kind: model.Batch, Workers: 1, CardsPerWorker: 1, Models: []string{mlu}}
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
		code := 3
		if _, err := srv.ReportWorker(ctx, agent, j.ID, v1.WorkerReport{Node: a.Node, Worker: a.Worker, PlacedAt: placed.PlacedAt,
			State: v1.StateFailed, ExitCode: &code, Reason: "out of device memory"}); err != nil {
			t.Fatal(err)
		}
		var got v1.Job
		for range 100 {
			if got, err = srv.Job(ctx, j.ID); err != nil {
				t.Fatal(err)
			}
			if got.State == v1.StateFailed && got.EndedAt != nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if got.State != v1.StateFailed {
			t.Fatalf("job is %s, want failed", got.State)
		}
		// Let the loop write whatever it writes after the end.
		time.Sleep(3 * period)
		if got, err = srv.Job(ctx, j.ID); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"failed", a.Node, "exit code 3", "out of device memory"} {
			if !strings.Contains(got.Reason, want) {
				t.Errorf("reason %q lacks %q", got.Reason, want)
			}
		}
	})
}

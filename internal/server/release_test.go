package server

import (
	"testing"
	"testing/synctest"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/httpapi"
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/store/mem"
)

// TestStoppedCardsFreeOnlyWhenTheAgentSaysSo: in virtual time, the cards
// of a cancelled job stay taken while its node's agent still lists a
// worker of it in its heartbeats, and are free once a heartbeat no longer
// does; an agent that never says so holds them ReleaseWithin at most.
func TestStoppedCardsFreeOnlyWhenTheAgentSaysSo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const period = time.Second
		const releaseWithin = 20 * time.Second
		srv, ctx := runInBubble(t, Config{Store: mem.New(mem.Config{}), Network: smallNetwork(t), Heartbeat: period, TickEvery: period,
			ReleaseWithin: releaseWithin})
		agent := fleetAgent(srv.net)
		admin := httpapi.Principal{TokenID: "tok-admin", Role: v1.RoleAdmin}
		const mlu = "cambricon-mlu370-x8"
		leases := registerAll(t, ctx, srv, agent, mlu)
		submit := func() string {
			t.Helper()
			j, err := srv.Submit(ctx, admin, model.Job{Tenant: "acme", Kind: model.Batch, Workers: 1, CardsPerWorker: 8, Models: []string{mlu}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			return j.ID
		}
		job := func(id string) v1.Job {
			t.Helper()
			j, err := srv.Job(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			return j
		}
		// running: node → jobs its agent lists in heartbeats.
		running := map[string][]string{}
		beat := func() {
			for n, l := range leases {
				hb := v1.Heartbeat{Lease: l}
				for _, j := range running[n] {
					hb.Running = append(hb.Running, v1.WorkerRef{Job: j})
				}
				if _, err := srv.Heartbeat(ctx, agent, n, hb); err != nil {
					t.Fatal(err)
				}
			}
		}
		wait := func(d time.Duration) {
			for end := time.Now().Add(d); time.Now().Before(end); {
				beat()
				time.Sleep(period)
				synctest.Wait()
			}
		}
		// Fill the four nodes, one job each.
		var ids []string
		for range 4 {
			ids = append(ids, submit())
		}
		wait(period)
		nodeOf := map[string]string{}
		for _, id := range ids {
			j := job(id)
			if j.Placement == nil {
				t.Fatalf("job %s not placed", id)
			}
			nodeOf[id] = j.Placement.Assignments[0].Node
			running[nodeOf[id]] = []string{id}
		}
		wait(2 * period)
		a, b := ids[0], ids[1]
		if _, err := srv.Cancel(ctx, admin, a); err != nil {
			t.Fatal(err)
		}
		next := submit()
		wait(5 * period)
		if j := job(next); j.Placement != nil {
			t.Fatalf("placed on %s while the cancelled job's worker still runs there", j.Placement.Assignments[0].Node)
		}
		// The agent has stopped the worker: its next heartbeat says so.
		running[nodeOf[a]] = nil
		wait(2 * period)
		if j := job(next); j.Placement == nil || j.Placement.Assignments[0].Node != nodeOf[a] {
			t.Fatalf("not placed on the freed node %s: %+v", nodeOf[a], j.Placement)
		}
		// An agent that keeps listing a stopped job: its cards are free
		// after ReleaseWithin.
		if _, err := srv.Cancel(ctx, admin, b); err != nil {
			t.Fatal(err)
		}
		stuck := submit()
		t0 := time.Now()
		for job(stuck).Placement == nil {
			if time.Since(t0) > releaseWithin+3*period {
				t.Fatalf("still not placed %s after the cancel", time.Since(t0))
			}
			wait(period)
		}
		if took := time.Since(t0); took < releaseWithin-period {
			t.Fatalf("the held cards were freed after %s, before ReleaseWithin %s, while the agent listed the job", took, releaseWithin)
		}
		if n := job(stuck).Placement.Assignments[0].Node; n != nodeOf[b] {
			t.Fatalf("placed on %s, want %s", n, nodeOf[b])
		}
	})
}

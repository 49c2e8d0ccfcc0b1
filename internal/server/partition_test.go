package server

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/httpapi"
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/network"
	"github.com/suanli/suanli/internal/store/mem"
)

// TestPartitionHoldsWorkUntilLostAfter: in virtual time, a node whose
// agent falls silent is disconnected after three missed heartbeats; its
// work stays placed (not moved, not counted anywhere else) and nothing new
// goes onto it; its capacity shows as unknown. Back before its site's
// lost_after, it finds its work where it was. Silent for longer, it is
// lost and its work requeued; the old copy's reports are refused.
func TestPartitionHoldsWorkUntilLostAfter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const period = time.Second
		const siteLostAfter = 20 * time.Second
		spec := strings.Replace(smallSpec, "  province: Guizhou\n", "  province: Guizhou\n  lost_after: 20s\n", 1)
		nw, err := network.Parse([]byte(spec), "small", catalog.Default())
		if err != nil {
			t.Fatal(err)
		}
		// The server's own default is far longer: the site's wins.
		srv, ctx := runInBubble(t, Config{Store: mem.New(mem.Config{}), Network: nw, Heartbeat: period, TickEvery: period, LostAfter: time.Hour})
		agent := fleetAgent(srv.net)
		admin := httpapi.Principal{TokenID: "tok-admin", Role: v1.RoleAdmin}
		const mlu = "cambricon-mlu370-x8"
		leases := map[string]string{}
		register := func(n string) {
			t.Helper()
			l, err := srv.RegisterNode(ctx, agent, v1.NodeRegistration{Node: n, Devices: devicesFor(mlu, 8, "OK")})
			if err != nil {
				t.Fatal(err)
			}
			leases[n] = l.Lease
		}
		nodes := nodesOf(t, mlu)
		for _, n := range nodes {
			register(n)
		}
		job := func(id string) *v1.Job {
			t.Helper()
			j, err := srv.Job(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			return &j
		}
		waitPlaced := func(id string) *v1.Job {
			t.Helper()
			for range 200 {
				if j := job(id); j.Placement != nil {
					return j
				}
				time.Sleep(10 * time.Millisecond)
			}
			t.Fatalf("job %s not placed", id)
			return nil
		}
		submit := func(workers int) string {
			t.Helper()
			j, err := srv.Submit(ctx, admin, model.Job{Tenant: "acme", Kind: model.Gang, Workers: workers, CardsPerWorker: 8, Models: []string{mlu}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			return j.ID
		}
		nodeState := func(id string) v1.Node {
			ns, err := srv.Nodes(ctx, "gz")
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range ns {
				if n.ID == id {
					return n
				}
			}
			t.Fatalf("no node %s", id)
			return v1.Node{}
		}
		first := submit(2)
		j1 := waitPlaced(first)
		silent := j1.Placement.Assignments[0].Node
		for _, a := range j1.Placement.Assignments {
			if _, err := srv.ReportWorker(ctx, agent, first, v1.WorkerReport{Node: a.Node, Worker: a.Worker, PlacedAt: j1.PlacedAt, State: v1.StateRunning}); err != nil {
				t.Fatal(err)
			}
		}
		quiet := map[string]bool{}
		beatAll := func() {
			for _, n := range nodes {
				if quiet[n] {
					continue
				}
				if _, err := srv.Heartbeat(ctx, agent, n, v1.Heartbeat{Lease: leases[n]}); err != nil {
					t.Fatalf("heartbeat %s: %v", n, err)
				}
			}
		}
		// until beats every period/4 until cond holds, and says when it did.
		until := func(what string, limit time.Duration, cond func() bool) time.Duration {
			t.Helper()
			t0 := time.Now()
			for i := 0; !cond(); i++ {
				if time.Since(t0) > limit {
					t.Fatalf("%s: not within %s", what, limit)
				}
				if i%4 == 0 {
					beatAll()
				}
				time.Sleep(period / 4)
				synctest.Wait()
			}
			return time.Since(t0)
		}
		beatAll()
		quiet[silent] = true
		took := until("disconnected", 10*period, func() bool { return nodeState(silent).State == v1.NodeDisconnected })
		if took < 3*period-period/4 {
			t.Fatalf("disconnected %s after the last heartbeat, before three were missed", took)
		}
		if j := job(first); j.Placement == nil || !j.PlacedAt.Equal(*j1.PlacedAt) {
			t.Fatalf("the disconnected node's job moved: %+v", j)
		}
		var capacity capacityReport
		if c, err := srv.Capacity(ctx); err != nil {
			t.Fatal(err)
		} else {
			capacity = c.(capacityReport)
		}
		if u := capacity.Unknown; u == nil || u.Nodes != 1 || u.Disconnected != 1 || u.Cards != 8 {
			t.Fatalf("unknown capacity %+v, want the disconnected node's 8 cards", u)
		}
		// New work avoids the disconnected node: a second gang takes the two
		// free nodes, a third waits.
		second := waitPlaced(submit(2))
		for _, a := range second.Placement.Assignments {
			if a.Node == silent {
				t.Fatalf("new work placed on the disconnected node %s", silent)
			}
		}
		third := submit(1)
		time.Sleep(period)
		if j := job(third); j.Placement != nil {
			t.Fatalf("a third gang was placed on %v: the disconnected node's cards are its job's", j.Placement)
		}
		// The heartbeat of the returning agent is told to register again;
		// registering reconnects the node, its work untouched.
		if _, err := srv.Heartbeat(ctx, agent, silent, v1.Heartbeat{Lease: leases[silent]}); !errors.Is(err, httpapi.ErrConflict) {
			t.Fatalf("heartbeat of a disconnected node: %v, want a conflict", err)
		}
		register(silent)
		delete(quiet, silent)
		until("ready again", 2*period, func() bool { return nodeState(silent).State == v1.NodeReady })
		if j := job(first); j.Placement == nil || !j.PlacedAt.Equal(*j1.PlacedAt) || j.State != v1.StateRunning {
			t.Fatalf("the job after its node came back: %s %+v", j.State, j.Placement)
		}
		if _, err := srv.ReportWorker(ctx, agent, first, v1.WorkerReport{Node: silent, Worker: j1.Placement.Assignments[0].Worker,
			PlacedAt: j1.PlacedAt, State: v1.StateRunning, Checkpoint: &v1.Checkpoint{Step: 7, At: time.Now()}}); err != nil {
			t.Fatalf("report of the reconnected worker: %v", err)
		}
		if j := job(third); j.Placement != nil {
			t.Fatalf("the third gang was placed on %v", j.Placement)
		}

		// Silent for longer than the site's lost_after: lost, work requeued.
		quiet[silent] = true
		until("disconnected again", 10*period, func() bool { return nodeState(silent).State == v1.NodeDisconnected })
		disc := time.Now()
		until("lost", siteLostAfter+2*period, func() bool { return nodeState(silent).State == v1.NodeLost })
		if held := time.Since(disc); held < siteLostAfter-period {
			t.Fatalf("lost %s after it was disconnected; its site holds work for %s", held, siteLostAfter)
		}
		until("the job requeued", 2*period, func() bool {
			j := job(first)
			return j.Placement == nil || !j.PlacedAt.Equal(*j1.PlacedAt)
		})
		if j := job(first); j.Placement != nil && slices.ContainsFunc(j.Placement.Assignments, func(a v1.Assignment) bool { return a.Node == silent }) {
			t.Fatalf("requeued onto the lost node: %+v", j.Placement)
		}
		// The old copy's reports are about an earlier placement: refused,
		// so nothing is counted twice.
		_, err = srv.ReportWorker(ctx, agent, first, v1.WorkerReport{Node: silent, Worker: j1.Placement.Assignments[0].Worker,
			PlacedAt: j1.PlacedAt, State: v1.StateCompleted})
		if !errors.Is(err, httpapi.ErrConflict) {
			t.Fatalf("a report of the requeued job's old copy: %v, want a conflict", err)
		}
		if j := job(first); j.Checkpoint != 7 {
			t.Fatalf("requeued job resumes from %d, want the checkpoint 7 reported before", j.Checkpoint)
		}
		audit, err := srv.Audit(context.Background(), 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		var actions []string
		for _, e := range audit.Entries {
			if e.Target == silent && strings.HasPrefix(e.Action, "node.") {
				actions = append(actions, e.Action)
			}
		}
		want := []string{"node.register", "node.disconnected", "node.register", "node.disconnected", "node.lost"}
		if !slices.Equal(actions, want) {
			t.Fatalf("audit of %s: %v, want %v", silent, actions, want)
		}
	})
}

// TestJobLostAfterIsShorter: a job's own lost_after_sec requeues it from a
// disconnected node before the node's site gives up on the rest.
func TestJobLostAfterIsShorter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const period = time.Second
		srv, ctx := runInBubble(t, Config{Store: mem.New(mem.Config{}), Network: smallNetwork(t), Heartbeat: period, TickEvery: period, LostAfter: time.Hour})
		agent := fleetAgent(srv.net)
		admin := httpapi.Principal{TokenID: "tok-admin", Role: v1.RoleAdmin}
		const mlu = "cambricon-mlu370-x8"
		nodes := nodesOf(t, mlu)
		leases := registerAll(t, ctx, srv, agent, mlu)
		submit := func(lostAfter int64) string {
			j, err := srv.Submit(ctx, admin, model.Job{Tenant: "acme", Kind: model.Batch, Workers: 1, CardsPerWorker: 4, Models: []string{mlu},
				LostAfterSec: lostAfter}, nil)
			if err != nil {
				t.Fatal(err)
			}
			return j.ID
		}
		fast, slow := submit(10), submit(0)
		time.Sleep(period / 2)
		get := func(id string) v1.Job {
			j, err := srv.Job(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			return j
		}
		f0, s0 := get(fast), get(slow)
		if f0.Placement == nil || s0.Placement == nil || f0.Placement.Assignments[0].Node != s0.Placement.Assignments[0].Node {
			t.Fatalf("want both jobs packed on one node: %+v %+v", f0.Placement, s0.Placement)
		}
		silent := f0.Placement.Assignments[0].Node
		var disc time.Time
		for i := 0; ; i++ {
			for _, n := range nodes {
				if n != silent {
					if _, err := srv.Heartbeat(ctx, agent, n, v1.Heartbeat{Lease: leases[n]}); err != nil {
						t.Fatal(err)
					}
				}
			}
			time.Sleep(period / 4)
			synctest.Wait()
			ns, _ := srv.Nodes(ctx, "gz")
			state := ""
			for _, n := range ns {
				if n.ID == silent {
					state = n.State
				}
			}
			if state == v1.NodeDisconnected && disc.IsZero() {
				disc = time.Now()
			}
			if state == v1.NodeLost {
				t.Fatal("the node was lost; its site holds work for an hour")
			}
			if j := get(fast); j.Placement == nil || !j.PlacedAt.Equal(*f0.PlacedAt) {
				if disc.IsZero() || time.Since(disc) < 10*time.Second-period {
					t.Fatalf("the job left the node %s after it was disconnected; its lost_after_sec is 10", time.Since(disc))
				}
				break
			}
			if i > 400 {
				t.Fatal("the job with lost_after_sec 10 was never requeued")
			}
		}
		if j := get(slow); j.Placement == nil || !j.PlacedAt.Equal(*s0.PlacedAt) {
			t.Fatalf("the job without its own lost_after moved: %+v", j.Placement)
		}
	})
}

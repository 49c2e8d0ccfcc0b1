package server

import (
	"context"
	"errors"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/httpapi"
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/store/mem"
)

func nodesOf(t testing.TB, modelID string) []string {
	var out []string
	for _, n := range smallNetwork(t).Nodes {
		if n.Model == modelID {
			out = append(out, string(n.ID))
		}
	}
	return out
}

func devicesFor(modelID string, n int, health string) []v1.NodeDevice {
	out := make([]v1.NodeDevice, n)
	for i := range out {
		out[i] = v1.NodeDevice{Index: i, Vendor: "Cambricon", Model: modelID, Name: "MLU370-X8", Health: health}
	}
	return out
}

// registerAll registers every node of the model with eight healthy cards
// through agent and returns each node's lease.
func registerAll(t testing.TB, ctx context.Context, srv *Server, agent httpapi.Principal, modelID string) map[string]string {
	t.Helper()
	leases := map[string]string{}
	for _, n := range nodesOf(t, modelID) {
		l, err := srv.RegisterNode(ctx, agent, v1.NodeRegistration{Node: n, Devices: devicesFor(modelID, 8, "OK")})
		if err != nil {
			t.Fatal(err)
		}
		leases[n] = l.Lease
	}
	return leases
}

// runInBubble starts a server with cfg in the calling synctest bubble,
// registers the tenant "acme", and stops the server, waiting for it, when
// the test ends.
func runInBubble(t *testing.T, cfg Config) (*Server, context.Context) {
	t.Helper()
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	if _, err := srv.PutTenant(ctx, httpapi.Principal{TokenID: "tok-admin", Role: v1.RoleAdmin}, model.Tenant{ID: "acme", Class: model.Private, Weight: 1}); err != nil {
		t.Fatal(err)
	}
	return srv, ctx
}

// TestSilentNodeRequeued: in virtual time, a node whose agent stops
// heartbeating is disconnected once three heartbeats are missed and lost
// lost_after later; then its gang is requeued whole, from its last
// checkpoint, onto the other nodes.
func TestSilentNodeRequeued(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const period = time.Second
		const lostAfter = 2 * period
		srv, ctx := runInBubble(t, Config{Store: mem.New(mem.Config{}), Network: smallNetwork(t), Heartbeat: period, TickEvery: period, LostAfter: lostAfter})
		agent := fleetAgent(srv.net)
		const mlu = "cambricon-mlu370-x8"
		leases := map[string]string{}
		for _, n := range nodesOf(t, mlu) {
			l, err := srv.RegisterNode(ctx, agent, v1.NodeRegistration{Node: n, Devices: devicesFor(mlu, 8, "OK")})
			if err != nil {
				t.Fatal(err)
			}
			if l.HeartbeatMillis != 1000 || l.MissedBeats != 3 {
				t.Fatalf("lease %+v", l)
			}
			leases[n] = l.Lease
		}
		spec := model.Job{Tenant: "acme", Kind: model.Gang, Workers: 2, CardsPerWorker: 8, Models: []string{mlu}}
		j, err := srv.Submit(ctx, httpapi.Principal{TokenID: "tok-admin", Role: v1.RoleAdmin}, spec, nil)
		if err != nil {
			t.Fatal(err)
		}
		placed := func() *v1.Job {
			for range 200 {
				got, err := srv.Job(ctx, j.ID)
				if err != nil {
					t.Fatal(err)
				}
				if got.State == v1.StatePlaced || got.State == v1.StateRunning {
					return &got
				}
				time.Sleep(10 * time.Millisecond)
			}
			t.Fatal("the job was not placed")
			return nil
		}
		first := placed()
		silent := first.Placement.Assignments[0].Node
		for _, a := range first.Placement.Assignments {
			if _, err := srv.ReportWorker(ctx, agent, j.ID, v1.WorkerReport{Node: a.Node, Worker: a.Worker, PlacedAt: first.PlacedAt, State: v1.StateRunning,
				Checkpoint: &v1.Checkpoint{Step: 40, At: time.Now()}}); err != nil {
				t.Fatal(err)
			}
		}
		// Every agent heartbeats on time for a while; then the silent one
		// stops.
		var lastSilent time.Time
		beat := func(n string) {
			if _, err := srv.Heartbeat(ctx, agent, n, v1.Heartbeat{Lease: leases[n]}); err != nil {
				t.Fatalf("heartbeat %s: %v", n, err)
			}
			if n == silent {
				lastSilent = time.Now()
			}
		}
		for range 5 {
			for n := range leases {
				beat(n)
			}
			time.Sleep(period)
		}
		stopped := lastSilent
		for {
			for n := range leases {
				if n != silent {
					beat(n)
				}
			}
			got, err := srv.Job(ctx, j.ID)
			if err != nil {
				t.Fatal(err)
			}
			moved := got.Placement == nil || !slices.ContainsFunc(got.Placement.Assignments, func(a v1.Assignment) bool { return a.Node == silent })
			elapsed := time.Since(stopped)
			if moved {
				// Disconnected after three missed heartbeats (3 periods since
				// the last one, sweeps every quarter period), lost lost_after
				// later.
				if elapsed <= 3*period+lostAfter || elapsed > 4*period+lostAfter {
					t.Fatalf("the job left the silent node %s after the last heartbeat; want in (5, 6] periods", elapsed)
				}
				break
			}
			if elapsed > 10*period {
				t.Fatalf("the job is still on the silent node %s after %s", silent, elapsed)
			}
			time.Sleep(period / 10)
		}
		again := placed()
		if len(again.Placement.Assignments) != 2 || again.Checkpoint != 40 {
			t.Errorf("requeued job: %d workers, checkpoint %d; want the whole gang from step 40", len(again.Placement.Assignments), again.Checkpoint)
		}
		for _, a := range again.Placement.Assignments {
			if a.Node == silent {
				t.Errorf("worker %d placed back on the lost node", a.Worker)
			}
		}
		// The lost node's agent must register again.
		_, err = srv.Heartbeat(ctx, agent, silent, v1.Heartbeat{Lease: leases[silent]})
		if !errors.Is(err, httpapi.ErrConflict) {
			t.Errorf("heartbeat on a lost lease: %v, want a conflict", err)
		}
		ns, _ := srv.Nodes(ctx, "gz")
		for _, n := range ns {
			if (n.ID == silent) != (n.State == v1.NodeLost) {
				t.Errorf("node %s is %s", n.ID, n.State)
			}
		}
		audit, err := srv.Audit(ctx, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(audit.Entries, func(e v1.AuditEntry) bool { return e.Action == "node.lost" && e.Target == silent }) {
			t.Error("no node.lost entry in the audit log")
		}
	})
}

// TestRegistrationAndDeviceHealth: a registration is checked against the
// network spec (every problem listed), unknown devices are kept and
// reported, and a device in Error takes the node out of service until it
// reports healthy again.
func TestRegistrationAndDeviceHealth(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, ctx := runInBubble(t, Config{Store: mem.New(mem.Config{}), Network: smallNetwork(t), Heartbeat: time.Second})
		agent := fleetAgent(srv.net)
		const mlu = "cambricon-mlu370-x8"
		node := nodesOf(t, mlu)[0]

		_, err := srv.RegisterNode(ctx, agent, v1.NodeRegistration{Node: node, Site: "nx", Domain: "elsewhere"})
		var probs httpapi.Problems
		if !errors.As(err, &probs) || len(probs) != 2 {
			t.Fatalf("a registration in the wrong site and domain: %v; want two problems", err)
		}
		if _, err := srv.RegisterNode(ctx, agent, v1.NodeRegistration{Node: "no-such-node"}); !errors.As(err, &probs) {
			t.Fatalf("an unknown node: %v", err)
		}
		devs := append(devicesFor(mlu, 8, "OK"), v1.NodeDevice{Index: 8, Vendor: "Cambricon", Name: "MLU999", Health: "OK"})
		l, err := srv.RegisterNode(ctx, agent, v1.NodeRegistration{Node: node, Site: "gz", Devices: devs})
		if err != nil {
			t.Fatal(err)
		}
		nodeState := func() v1.Node {
			ns, err := srv.Nodes(ctx, "gz")
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range ns {
				if n.ID == node {
					return n
				}
			}
			t.Fatalf("node %s not listed", node)
			return v1.Node{}
		}
		if n := nodeState(); n.State != v1.NodeReady || n.Unknown != 1 || len(n.Devices) != 9 || len(n.Warnings) != 1 {
			t.Errorf("registered node: %+v", n)
		}
		// Fill the node, then fail a device: the job moves off it.
		j, err := srv.Submit(ctx, httpapi.Principal{TokenID: "tok-admin", Role: v1.RoleAdmin},
			model.Job{Tenant: "acme", Kind: model.Gang, Workers: 4, CardsPerWorker: 8, Models: []string{mlu}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		waitJob := func(want string) v1.Job {
			for range 100 {
				got, _ := srv.Job(ctx, j.ID)
				if got.State == want {
					return got
				}
				time.Sleep(50 * time.Millisecond)
			}
			got, _ := srv.Job(ctx, j.ID)
			t.Fatalf("job is %s (%s), want %s", got.State, got.Reason, want)
			return got
		}
		waitJob(v1.StatePlaced)
		devs[3].Health, devs[3].HealthRaw = "Error", "ECC"
		if err := srv.ReportDevices(ctx, agent, node, v1.DeviceReport{Lease: l.Lease, Devices: devs}); err != nil {
			t.Fatal(err)
		}
		if n := nodeState(); n.State != v1.NodeUnhealthy || n.Healthy {
			t.Errorf("node with a device in Error: %+v", n)
		}
		// The four-node gang cannot fit on three nodes: it waits.
		waitJob(v1.StateBlocked)
		devs[3].Health = "OK"
		if err := srv.ReportDevices(ctx, agent, node, v1.DeviceReport{Lease: l.Lease, Devices: devs}); err != nil {
			t.Fatal(err)
		}
		waitJob(v1.StatePlaced)
		if err := srv.ReportDevices(ctx, agent, node, v1.DeviceReport{Lease: "ls-old", Devices: devs}); !errors.Is(err, httpapi.ErrConflict) {
			t.Errorf("a device report on a stale lease: %v", err)
		}
	})
}

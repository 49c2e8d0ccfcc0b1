package server

import (
	"context"
	"testing"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/store/mem"
)

// TestNodesShowHost: a placed job's explanation shows its score and the
// runner-ups; /v1/nodes gives each node's host CPU and memory, and
// what a placed job's workers hold of them (the kind's defaults when the
// spec names none).
func TestNodesShowHost(t *testing.T) {
	srv, url, _ := runServer(t, Config{Store: mem.New(mem.Config{}), Network: smallNetwork(t)})
	admin := v1.NewClient(url, adminToken(t, srv))
	ctx := context.Background()
	if _, err := admin.PutTenant(ctx, v1.Tenant{ID: "acme", Class: "private"}); err != nil {
		t.Fatal(err)
	}
	j, err := admin.Submit(ctx, v1.JobSpec{Tenant: "acme", Kind: "batch", Workers: 1, CardsPerWorker: 2, CPUMilli: 5500})
	if err != nil {
		t.Fatal(err)
	}
	got := waitState(t, admin, j.ID, "running", "placed")
	a := got.Placement.Assignments[0]
	if a.CPUMilli != 5500 || a.HostMemMiB != 32<<10 {
		t.Fatalf("assignment holds %d milli-CPU %d MiB, want 5500 and the batch default %d", a.CPUMilli, a.HostMemMiB, 32<<10)
	}
	e, err := admin.Explain(ctx, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if e.Score == nil || e.Score.Total <= 0 || len(e.Alternatives) == 0 {
		t.Fatalf("a placed job's explanation lacks its score or runner-ups: %+v", e)
	}
	for _, alt := range e.Alternatives {
		if alt.Where == "" || alt.Scope == "" || alt.Score.Total > e.Score.Total {
			t.Fatalf("runner-up %+v against the chosen score %d", alt, e.Score.Total)
		}
	}
	ns, err := admin.Nodes(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	seen := false
	for _, n := range ns {
		net, _ := srv.net.Node(model.NodeID(n.ID))
		if n.CPUMilli != net.CPUCores*1000 || n.MemMiB != net.MemGiB*1024 || n.CPUMilli == 0 {
			t.Fatalf("node %s shows %d milli-CPU %d MiB, the network has %d cores %d GiB", n.ID, n.CPUMilli, n.MemMiB, net.CPUCores, net.MemGiB)
		}
		if n.ID == a.Node {
			seen = true
			if n.CPUAllocatedMilli != 5500 || n.MemAllocatedMiB != 32<<10 {
				t.Fatalf("node %s shows %d milli-CPU and %d MiB allocated, want 5500 and %d", n.ID, n.CPUAllocatedMilli, n.MemAllocatedMiB, 32<<10)
			}
		} else if n.CPUAllocatedMilli != 0 || n.MemAllocatedMiB != 0 {
			t.Fatalf("node %s shows host use without a job", n.ID)
		}
	}
	if !seen {
		t.Fatalf("the job's node %s is not listed", a.Node)
	}
}

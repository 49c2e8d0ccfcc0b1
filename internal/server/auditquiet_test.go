package server

import (
	"context"
	"testing"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/audit"
	"github.com/suanli/suanli/internal/store/mem"
)

// TestLeaderStartAuditsOnlyTransitions: restarting the leader decides the
// queue again, but a job blocked for the same reason as before gets no new
// audit entry.
func TestLeaderStartAuditsOnlyTransitions(t *testing.T) {
	st := mem.New(mem.Config{})
	net := smallNetwork(t)
	cfg := Config{Store: st, Network: net, TickEvery: 50 * time.Millisecond}
	srv, url, stop := runServer(t, cfg)
	admin := v1.NewClient(url, adminToken(t, srv))
	ctx := context.Background()
	if _, err := admin.PutTenant(ctx, v1.Tenant{ID: "acme", Class: "private"}); err != nil {
		t.Fatal(err)
	}
	// The 32 MLU370 cards taken; five more 8-card jobs wait.
	var ids []string
	for range 9 {
		j, err := admin.Submit(ctx, v1.JobSpec{Tenant: "acme", Kind: "gang", Workers: 1, CardsPerWorker: 8, Models: []string{"cambricon-mlu370-x8"}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
	}
	for _, id := range ids[4:] {
		waitState(t, admin, id, v1.StateBlocked)
	}
	count := func() (blocked, all int) {
		es, err := audit.Read(ctx, st, 0, 1_000_000)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			if e.Action == "sched.blocked" {
				blocked++
			}
		}
		return blocked, len(es)
	}
	time.Sleep(300 * time.Millisecond) // a few ticks: nothing changes
	b0, n0 := count()
	jobs0, _, _ := st.List(ctx, jobPrefix)
	if b0 != 5 {
		t.Errorf("%d sched.blocked entries for 5 blocked jobs", b0)
	}
	for range 3 {
		stop()
		_, url, stop = runServer(t, cfg)
		admin = v1.NewClient(url, admin.Token)
		for _, id := range ids[4:] {
			waitState(t, admin, id, v1.StateBlocked)
		}
		time.Sleep(300 * time.Millisecond)
	}
	b1, n1 := count()
	jobs1, _, _ := st.List(ctx, jobPrefix)
	for i, kv := range jobs1 {
		if kv.ModRev != jobs0[i].ModRev {
			t.Errorf("%s rewritten by a leader start (revision %d, then %d); nothing about it changed", kv.Key, jobs0[i].ModRev, kv.ModRev)
		}
	}
	if b1 != b0 {
		t.Errorf("three leader starts wrote %d more sched.blocked entries; the queue did not change", b1-b0)
	}
	// Each start writes its sched.lead; nothing else changed.
	if n1-n0 != 3 {
		t.Errorf("three leader starts wrote %d audit entries, want 3 (sched.lead)", n1-n0)
	}
	// A real transition is still audited: cancel a placed job, a blocked
	// one is placed.
	if _, err := admin.Cancel(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	waitState(t, admin, ids[4], v1.StatePlaced)
}

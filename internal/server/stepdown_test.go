package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/httpapi"
	"github.com/suanli/suanli/internal/store"
	"github.com/suanli/suanli/internal/store/etcdtest"
)

// failingStore fails the scheduler's next fail commits (transactions fenced
// by the epoch that write a job) the way etcd does when its raft leader
// dies under a write.
type failingStore struct {
	store.Store
	fail atomic.Int32
}

func (f *failingStore) Txn(ctx context.Context, t store.Txn) (int64, error) {
	if f.fail.Load() > 0 && schedulerCommit(t) && f.fail.Add(-1) >= 0 {
		// As the etcd store reports it; a submit the writer grouped
		// with the commit gets it too (503: retry).
		return 0, fmt.Errorf("txn: %w: etcdserver: request timed out", store.ErrUnavailable)
	}
	return f.Store.Txn(ctx, t)
}

func schedulerCommit(t store.Txn) bool {
	fenced := false
	for _, c := range t.Conds {
		fenced = fenced || c.Key == epochKey
	}
	for _, op := range t.Ops {
		if fenced && strings.HasPrefix(op.Key, jobPrefix) {
			return true
		}
	}
	return false
}

// TestLeaderStepsDownOnCommitFailure: a leader whose scheduling loop stops
// on a commit error gives up its leadership; a leader exists again within a
// few seconds and pending jobs are placed.
func TestLeaderStepsDownOnCommitFailure(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an etcd cluster")
	}
	cluster := etcdtest.Start(t, 3)
	var fs []*failingStore
	wrap := func(s store.Store) store.Store {
		f := &failingStore{Store: s}
		fs = append(fs, f)
		return f
	}
	a := startReplicaOn(t, cluster, "a", wrap)
	b := startReplicaOn(t, cluster, "b", wrap)
	ctx := context.Background()
	waitLeader(t, a, b)
	if _, err := a.srv.Bootstrap(ctx, t.TempDir()+"/admin.token"); err != nil {
		t.Fatal(err)
	}
	admin, err := a.srv.CreateToken(ctx, httpapi.Principal{TokenID: "test", Role: v1.RoleAdmin}, v1.TokenRequest{Role: v1.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	c := v1.NewClient(a.url, admin.Secret)
	if _, err := c.PutTenant(ctx, v1.Tenant{ID: "acme", Class: "private"}); err != nil {
		t.Fatal(err)
	}
	j, err := c.Submit(ctx, v1.JobSpec{Tenant: "acme", Kind: "batch", Workers: 1, CardsPerWorker: 1})
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, c, j.ID, v1.StatePlaced)
	for _, f := range fs {
		f.fail.Store(1)
	}
	failed := time.Now()
	var ids []string
	for len(ids) < 5 {
		j, err := c.Submit(ctx, v1.JobSpec{Tenant: "acme", Kind: "batch", Workers: 1, CardsPerWorker: 2})
		var e *v1.Error
		if errors.As(err, &e) && e.Status == http.StatusServiceUnavailable {
			continue // written with the failed commit: the client retries
		}
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
	}
	deadline := time.Now().Add(8 * time.Second)
	for _, id := range ids {
		for {
			j, err := c.Job(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if j.State == v1.StatePlaced {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("job %s is still %s %v after a commit failed: no replica leads again (a: %+v, b: %+v)",
					id, j.State, time.Since(failed).Round(time.Millisecond), a.srv.Ready(ctx), b.srv.Ready(ctx))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	t.Logf("pending jobs placed %v after the leader's commit failed", time.Since(failed).Round(time.Millisecond))
	// Health reports the real state: one replica leads, the other follows
	// it by name.
	lead := waitLeader(t, a, b)
	for _, r := range []*replica{a, b} {
		h, err := v1.NewClient(r.url, "").Health(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := v1.Health{Status: "ok", Leader: r == lead, Scheduling: v1.SchedFollowing, LeaderName: "a"}
		if lead == b {
			want.LeaderName = "b"
		}
		if r == lead {
			want.Scheduling, want.LeaderName = v1.SchedLeading, ""
		}
		if *h != want {
			t.Errorf("readyz of %s = %+v, want %+v", r.url, *h, want)
		}
	}
	if n := fs[0].fail.Load() + fs[1].fail.Load(); n > 1 {
		t.Errorf("%d injected failures left; the scheduler never committed through the failing store", n)
	}
}

// waitLeader waits until one of the replicas leads and returns it.
func waitLeader(t *testing.T, rs ...*replica) *replica {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, r := range rs {
			if r.srv.Leader() {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no leader after 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestEtcdLeaderKilled: killing the etcd raft leader under a scheduling
// replica leaves a scheduling leader within seconds; with the quorum gone,
// health says the store is unavailable and nobody leads.
func TestEtcdLeaderKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an etcd cluster")
	}
	cluster := etcdtest.Start(t, 3)
	a := startReplica(t, cluster, "a")
	b := startReplica(t, cluster, "b")
	ctx := context.Background()
	waitLeader(t, a, b)
	if _, err := a.srv.Bootstrap(ctx, t.TempDir()+"/admin.token"); err != nil {
		t.Fatal(err)
	}
	admin, err := a.srv.CreateToken(ctx, httpapi.Principal{TokenID: "test", Role: v1.RoleAdmin}, v1.TokenRequest{Role: v1.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	clients := []*v1.Client{v1.NewClient(a.url, admin.Secret), v1.NewClient(b.url, admin.Secret)}
	if _, err := clients[0].PutTenant(ctx, v1.Tenant{ID: "acme", Class: "private"}); err != nil {
		t.Fatal(err)
	}
	for round := range 2 {
		m := cluster.Leader()
		if m < 0 {
			t.Fatal("no etcd leader")
		}
		cluster.Kill(m)
		killed := time.Now()
		if round == 1 {
			break // the second kill takes the quorum: see below
		}
		var ids []string
		var c *v1.Client
		for len(ids) < 5 {
			for _, cl := range clients {
				j, err := cl.Submit(ctx, v1.JobSpec{Tenant: "acme", Kind: "batch", Workers: 1, CardsPerWorker: 1})
				if err == nil {
					ids, c = append(ids, j.ID), cl
					break
				}
			}
			if time.Since(killed) > 15*time.Second {
				t.Fatal("no replica accepts a submit 15 s after the etcd leader was killed")
			}
		}
		for _, id := range ids {
			waitState(t, c, id, v1.StatePlaced)
		}
		t.Logf("5 jobs placed %v after etcd member %d (the raft leader) was killed", time.Since(killed).Round(time.Millisecond), m)
	}
	// One member of three left: no quorum.
	deadline := time.Now().Add(15 * time.Second)
	for _, c := range clients {
		for {
			_, err := c.Health(ctx) // a 503's body comes back in the error
			var ae *v1.Error
			if errors.As(err, &ae) && ae.Status == 503 && strings.Contains(err.Error(), `"status":"store unavailable`) &&
				strings.Contains(err.Error(), `"leader":false,"scheduling":"no leader"`) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("health without quorum: %v; want 503, store unavailable, no leader", err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

package server

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/httpapi"
	"github.com/suanli/suanli/internal/store"
	"github.com/suanli/suanli/internal/store/etcd"
	"github.com/suanli/suanli/internal/store/etcdtest"
)

type replica struct {
	srv    *Server
	cli    *clientv3.Client
	url    string
	cancel context.CancelFunc
	done   chan struct{}
	hs     *httptest.Server
}

func startReplica(t *testing.T, c *etcdtest.Cluster, name string) *replica {
	t.Helper()
	return startReplicaOn(t, c, name, nil)
}

// startReplicaOn starts a replica whose store is wrap(the etcd store) (nil:
// the etcd store itself).
func startReplicaOn(t *testing.T, c *etcdtest.Cluster, name string, wrap func(store.Store) store.Store) *replica {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	var st store.Store = etcd.New(cli, etcd.Config{})
	if wrap != nil {
		st = wrap(st)
	}
	srv, err := New(Config{Store: st, Network: defaultNetwork(t), Elector: EtcdElector{Client: cli, Candidate: name, TTL: 1}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &replica{srv: srv, cli: cli, cancel: cancel, done: make(chan struct{})}
	go func() { defer close(r.done); _ = srv.Run(ctx) }()
	r.hs = httptest.NewServer(httpapi.New(httpapi.Config{Backend: srv, Registry: srv.Registry()}))
	r.url = r.hs.URL
	t.Cleanup(r.kill)
	return r
}

// kill stops the replica as a crash would: its etcd client goes first, so
// it cannot resign; its leadership lapses with the session's lease.
func (r *replica) kill() {
	select {
	case <-r.done:
		return
	default:
	}
	r.hs.Close()
	r.cli.Close()
	r.cancel()
	<-r.done
}

// TestFailover: two replicas on a 3-member etcd cluster; the leader is
// killed; the follower schedules within 5 s; no job is lost and no card is
// held twice.
func TestFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an etcd cluster")
	}
	cluster := etcdtest.Start(t, 3)
	a := startReplica(t, cluster, "a")
	b := startReplica(t, cluster, "b")
	ctx := context.Background()
	var leader, follower *replica
	deadline := time.Now().Add(10 * time.Second)
	for leader == nil {
		switch {
		case a.srv.Leader():
			leader, follower = a, b
		case b.srv.Leader():
			leader, follower = b, a
		case time.Now().After(deadline):
			t.Fatal("no leader after 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := a.srv.Bootstrap(ctx, t.TempDir()+"/admin.token"); err != nil {
		t.Fatal(err)
	}
	admin, err := a.srv.CreateToken(ctx, httpapi.Principal{TokenID: "test", Role: v1.RoleAdmin}, v1.TokenRequest{Role: v1.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	fc := v1.NewClient(follower.url, admin.Secret)
	if _, err := fc.PutTenant(ctx, v1.Tenant{ID: "acme", Class: "private"}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	submit := func(n int) {
		for i := range n {
			j, err := fc.Submit(ctx, v1.JobSpec{Tenant: "acme", Kind: "batch", Workers: 1, CardsPerWorker: 1 + i%8})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, j.ID)
		}
	}
	submit(20) // through the follower, which accepts writes
	for _, id := range ids {
		waitState(t, fc, id, v1.StatePlaced)
	}
	leader.kill()
	killed := time.Now()
	submit(20)
	for _, id := range ids[20:] {
		waitState(t, fc, id, v1.StatePlaced)
	}
	took := time.Since(killed)
	t.Logf("the follower placed 20 new jobs %v after the leader was killed", took.Round(time.Millisecond))
	if took > 5*time.Second {
		t.Errorf("failover took %v, want under 5 s", took)
	}
	if !follower.srv.Leader() {
		t.Error("the follower does not lead")
	}
	held := map[string]string{}
	for _, id := range ids {
		j, err := fc.Job(ctx, id)
		if err != nil {
			t.Fatalf("job %s lost: %v", id, err)
		}
		for _, as := range j.Placement.Assignments {
			for _, c := range as.Cards {
				k := fmt.Sprintf("%s/%d", as.Node, c)
				if other, dup := held[k]; dup {
					t.Fatalf("card %s held by %s and %s", k, other, id)
				}
				held[k] = id
			}
		}
	}
}

package etcd_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/suanli/suanli/internal/store"
	"github.com/suanli/suanli/internal/store/etcd"
	"github.com/suanli/suanli/internal/store/etcdtest"
)

// campaign runs Elect in the background and reports the leadership on won.
func campaign(ctx context.Context, t *testing.T, cli *clientv3.Client, name string) <-chan *etcd.Leadership {
	won := make(chan *etcd.Leadership, 1)
	go func() {
		l, err := etcd.Elect(ctx, cli, "scheduler", etcd.WithCandidate(name))
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				t.Errorf("candidate %s: %v", name, err)
			}
			return
		}
		won <- l
	}()
	return won
}

func TestElection(t *testing.T) {
	c := etcdtest.Start(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	if _, err := etcd.Elect(ctx, c.Client(t), ""); err == nil {
		t.Fatal("elect with an empty name succeeded")
	}
	if _, err := etcd.Leader(ctx, c.Client(t), "scheduler"); !errors.Is(err, etcd.ErrNoLeader) {
		t.Fatalf("leader before any campaign: err = %v, want ErrNoLeader", err)
	}

	all := c.Client(t) // all three endpoints, from before the kill
	s := etcd.New(all, etcd.Config{Prefix: "/failover/"})
	defer s.Close()
	if _, err := s.Txn(ctx, store.Txn{Ops: []store.Op{store.PutOp("before", []byte("1"))}}); err != nil {
		t.Fatal(err)
	}

	// The first candidate talks only to the raft leader: killing that member
	// is the slowest failover (a new raft leader, then the lease expiry).
	raftLeader := c.Leader()
	clients := make([]*clientv3.Client, 3)
	for i := range clients {
		clients[i] = c.Client(t, (raftLeader+i)%3)
	}
	a, err := etcd.Elect(ctx, clients[0], "scheduler", etcd.WithCandidate("a"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := etcd.Leader(ctx, clients[1], "scheduler"); err != nil || got != "a" {
		t.Fatalf("leader = %q, %v; want a", got, err)
	}
	wonB := campaign(ctx, t, clients[1], "b")
	wonC := campaign(ctx, t, clients[2], "c")
	select {
	case <-wonB:
		t.Fatal("b leads while a holds the election")
	case <-wonC:
		t.Fatal("c leads while a holds the election")
	case <-time.After(300 * time.Millisecond):
	}

	t.Run("KillLeaderMember", func(t *testing.T) {
		killed := time.Now()
		c.Kill(raftLeader)
		var next *etcd.Leadership
		select {
		case next = <-wonB:
		case next = <-wonC:
		case <-time.After(5 * time.Second):
			t.Fatal("no candidate took over within 5s of the leader's member dying")
		}
		t.Logf("%s leads %v after the kill", next.Candidate(), time.Since(killed).Round(time.Millisecond))
		select {
		case <-a.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("the old leader was not told it lost leadership")
		}
		if got, err := etcd.Leader(ctx, clients[1], "scheduler"); err != nil || got != next.Candidate() {
			t.Fatalf("leader = %q, %v; want %s", got, err, next.Candidate())
		}

		// The store keeps working on the two survivors.
		var err error
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
			if _, err = s.Txn(ctx, store.Txn{Conds: []store.Cond{{Key: "after"}}, Ops: []store.Op{store.PutOp("after", []byte("1"))}}); err == nil || errors.Is(err, store.ErrConflict) {
				break
			}
		}
		if err != nil && !errors.Is(err, store.ErrConflict) {
			t.Fatalf("txn after losing a member: %v", err)
		}
		if kvs, _, err := s.List(ctx, ""); err != nil || len(kvs) != 2 {
			t.Fatalf("list after losing a member: %d kvs, err %v; want 2", len(kvs), err)
		}

		// Resigning hands over at once, without waiting for a lease.
		last := wonC
		if next.Candidate() == "c" {
			last = wonB
		}
		resigned := time.Now()
		if err := next.Resign(ctx); err != nil {
			t.Fatal(err)
		}
		select {
		case l := <-last:
			t.Logf("%s leads %v after the resignation", l.Candidate(), time.Since(resigned).Round(time.Millisecond))
			if err := l.Resign(ctx); err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no candidate took over within 5s of a resignation")
		}
	})
}

func ExampleElect() {
	ctx := context.Background()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{"127.0.0.1:2379"}})
	if err != nil {
		return
	}
	defer cli.Close()
	l, err := etcd.Elect(ctx, cli, "scheduler", etcd.WithCandidate("server-1"))
	if err != nil {
		return
	}
	defer l.Resign(ctx)
	select {
	case <-l.Done(): // lost: stop leading at once
	case <-ctx.Done():
	}
	fmt.Println("done")
}

package etcdtest

import (
	"context"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestRestartRejoins: a killed leader restarted on its data directory
// rejoins the cluster with what was written while it was down.
func TestRestartRejoins(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an etcd cluster")
	}
	c := Start(t, 3)
	leader := c.Leader()
	if leader < 0 {
		t.Fatal("no leader")
	}
	c.Kill(leader)
	if _, err := c.WaitLeader(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Client(t).Put(ctx, "k", "written while a member was down"); err != nil {
		t.Fatal(err)
	}
	if err := c.Restart(leader); err != nil {
		t.Fatal(err)
	}
	if got := len(c.Endpoints()); got != 3 {
		t.Fatalf("%d live members after the restart, want 3", got)
	}
	own := c.Client(t, leader)
	deadline := time.Now().Add(10 * time.Second)
	for {
		// A serializable read answers from the member itself.
		resp, err := own.Get(ctx, "k", clientv3.WithSerializable())
		if err == nil && len(resp.Kvs) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the restarted member has not caught up: %v %v", resp, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := c.Restart(leader); err != nil {
		t.Fatalf("restarting a live member: %v, want nothing done", err)
	}
}

package etcdtest

import (
	"context"
	"errors"
	"net"
	"net/url"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
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

// TestAddrInUseSeesEtcdBindFailure: a member that cannot bind its port
// fails with an error addrInUse recognises, so StartWith retries on fresh
// ports instead of failing the test another process's port broke.
func TestAddrInUseSeesEtcdBindFailure(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cfg := embed.NewConfig()
	cfg.Name, cfg.Dir = "m0", t.TempDir()
	taken, peer := url.URL{Scheme: "http", Host: l.Addr().String()}, freeURL(t)
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{taken}, []url.URL{taken}
	cfg.InitialCluster = "m0=" + peer.String()
	cfg.Logger, cfg.ZapLoggerBuilder = "zap", embed.NewZapLoggerBuilder(zap.NewNop())
	e, err := embed.StartEtcd(cfg)
	if err == nil {
		e.Close()
		t.Fatal("etcd started on a port another listener holds")
	}
	if !addrInUse(err) {
		t.Fatalf("addrInUse(%v) = false", err)
	}
	if addrInUse(errors.New("some other failure")) {
		t.Fatal("addrInUse takes any error for a port in use")
	}
}

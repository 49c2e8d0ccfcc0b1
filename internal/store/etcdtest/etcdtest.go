// Package etcdtest runs a real etcd cluster inside a test process: members
// embedded with go.etcd.io/etcd/server/v3/embed on 127.0.0.1, fast election
// timings, quiet logs, everything removed when the test ends.
package etcdtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	"go.etcd.io/etcd/client/pkg/v3/types"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// Timings: a 50 ms heartbeat and a 500 ms election timeout elect a new leader
// about a second after the old one dies.
const (
	TickMs     = 50
	ElectionMs = 500
)

// Member is one etcd server of a Cluster.
type Member struct {
	Name      string
	ClientURL string
	etcd      *embed.Etcd
	killed    bool
	cfg       *embed.Config
	closed    chan struct{} // closed when a killed member's listeners are gone
}

// Cluster is a running in-process etcd cluster.
type Cluster struct {
	t       testing.TB
	mu      sync.Mutex // guards Members[i].killed
	Members []*Member
	closing sync.WaitGroup // background Close of killed members
}

// freeURL reserves a loopback port. The port is released before etcd binds
// it; a clash with another process is possible but rare.
func freeURL(t testing.TB) url.URL {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("reserve a loopback port: %v", err)
	}
	defer l.Close()
	return url.URL{Scheme: "http", Host: l.Addr().String()}
}

// Options change how a cluster is started.
type Options struct {
	// ClientTLS, when set, serves clients over TLS (https:// client URLs)
	// with these files; with ClientCertAuth, clients must present a
	// certificate signed by TrustedCAFile. Peers stay on plain loopback.
	ClientTLS *transport.TLSInfo
}

// Start starts an n-member cluster, waits until every member is ready and a
// leader is elected, and stops it when the test ends.
func Start(t testing.TB, n int) *Cluster {
	t.Helper()
	return StartWith(t, n, Options{})
}

// StartWith is Start with options. A member's port, free when picked, can
// be taken by another process before the member binds it: the cluster is
// then started again on fresh ports, up to 5 times.
func StartWith(t testing.TB, n int, o Options) *Cluster {
	t.Helper()
	var c *Cluster
	var errs []error
	for attempt := 0; ; attempt++ {
		c, errs = startMembers(t, n, o)
		if !slices.ContainsFunc(errs, addrInUse) || attempt == 4 {
			break
		}
		c.Stop()
	}
	t.Cleanup(c.Stop)
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range c.Members {
		select {
		case <-m.etcd.Server.ReadyNotify():
		case err := <-m.etcd.Err():
			t.Fatalf("etcd member %s failed: %v", m.Name, err)
		case <-time.After(20 * time.Second):
			t.Fatalf("etcd member %s not ready after 20s", m.Name)
		}
	}
	if _, err := c.WaitLeader(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	return c
}

// addrInUse reports whether a member failed to bind its port.
func addrInUse(err error) bool {
	return err != nil && (errors.Is(err, syscall.EADDRINUSE) || strings.Contains(err.Error(), "address already in use"))
}

// startMembers starts n members on freshly picked loopback ports; errs
// holds each member's start error (its Members entry is then nil).
func startMembers(t testing.TB, n int, o Options) (*Cluster, []error) {
	t.Helper()
	cfgs := make([]*embed.Config, n)
	var initial []string
	for i := range cfgs {
		cfg := embed.NewConfig()
		cfg.Name = fmt.Sprintf("m%d", i)
		cfg.Dir = t.TempDir()
		peer, client := freeURL(t), freeURL(t)
		if o.ClientTLS != nil {
			client.Scheme = "https"
			cfg.ClientTLSInfo = *o.ClientTLS
		}
		cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
		cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
		cfg.TickMs, cfg.ElectionMs = TickMs, ElectionMs
		cfg.InitialClusterToken = "suanli-test"
		cfg.ClusterState = embed.ClusterStateFlagNew
		cfg.EnableGRPCGateway = false // its loopback connection would hold up Close
		cfg.Logger = "zap"
		cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
		initial = append(initial, fmt.Sprintf("%s=%s", cfg.Name, peer.String()))
		cfgs[i] = cfg
	}
	c := &Cluster{t: t, Members: make([]*Member, n)}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, cfg := range cfgs {
		cfg.InitialCluster = strings.Join(initial, ",")
		wg.Go(func() {
			e, err := embed.StartEtcd(cfg)
			if err != nil {
				errs[i] = fmt.Errorf("start etcd member %s: %w", cfg.Name, err)
				return
			}
			c.Members[i] = &Member{Name: cfg.Name, ClientURL: cfg.ListenClientUrls[0].String(), etcd: e, cfg: cfg}
		})
	}
	wg.Wait()
	return c, errs
}

// Endpoints returns the client URLs of the live members.
func (c *Cluster) Endpoints() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var eps []string
	for _, m := range c.Members {
		if !m.killed {
			eps = append(eps, m.ClientURL)
		}
	}
	return eps
}

// Client returns a client of the given members (all live members if none
// are named), closed when the test ends.
func (c *Cluster) Client(t testing.TB, members ...int) *clientv3.Client {
	t.Helper()
	eps := c.Endpoints()
	if len(members) > 0 {
		eps = eps[:0]
		for _, i := range members {
			eps = append(eps, c.Members[i].ClientURL)
		}
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatalf("etcd client for %v: %v", eps, err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// Leader returns the index of the member that leads, or -1.
func (c *Cluster) Leader() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, m := range c.Members {
		if !m.killed && m.etcd.Server.Leader() == m.etcd.Server.MemberID() && m.etcd.Server.Leader() != 0 {
			return i
		}
	}
	return -1
}

// WaitLeader waits until a live member leads and every live member agrees.
func (c *Cluster) WaitLeader(timeout time.Duration) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if i := c.Leader(); i >= 0 && c.agree(c.Members[i].etcd.Server.MemberID()) {
			return i, nil
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return -1, fmt.Errorf("etcd cluster has no agreed leader after %v", timeout)
		}
	}
}

func (c *Cluster) agree(id types.ID) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range c.Members {
		if !m.killed && m.etcd.Server.Leader() != id {
			return false
		}
	}
	return true
}

// Kill stops member i abruptly, as a crash would: its raft node stops at
// once, without handing over leadership. Its listeners are torn down in the
// background (gRPC waits for open clients), joined by Stop.
func (c *Cluster) Kill(i int) {
	c.mu.Lock()
	m := c.Members[i]
	if m.killed {
		c.mu.Unlock()
		return
	}
	m.killed = true
	m.closed = make(chan struct{})
	c.mu.Unlock()
	m.etcd.Server.HardStop()
	c.closing.Go(func() { m.etcd.Close(); close(m.closed) })
}

// Restart starts killed member i again on its data directory and its URLs,
// as an operator restarting a crashed member would, and waits until it is
// ready. A member that is not killed is left as it is.
func (c *Cluster) Restart(i int) error {
	c.mu.Lock()
	m := c.Members[i]
	if !m.killed {
		c.mu.Unlock()
		return nil
	}
	closed := m.closed
	c.mu.Unlock()
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		return fmt.Errorf("etcd member %s: its listeners are still open 30s after the kill", m.Name)
	}
	cfg := *m.cfg
	cfg.ClusterState = embed.ClusterStateFlagExisting
	var e *embed.Etcd
	var err error
	// The kernel may hold a port a moment after its listener closed.
	for try := 0; try < 50; try++ {
		if e, err = embed.StartEtcd(&cfg); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("restart etcd member %s: %w", m.Name, err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return fmt.Errorf("restarted etcd member %s failed: %w", m.Name, err)
	case <-time.After(20 * time.Second):
		e.Close()
		return fmt.Errorf("restarted etcd member %s not ready after 20s", m.Name)
	}
	c.mu.Lock()
	m.etcd, m.killed = e, false
	c.mu.Unlock()
	return nil
}

// Stop stops every live member and waits until all are gone.
func (c *Cluster) Stop() {
	for i, m := range c.Members {
		if m != nil {
			c.Kill(i)
		}
	}
	c.closing.Wait()
}

package server

import (
	"context"
	"fmt"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/httpapi"
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/network"
	"github.com/suanli/suanli/internal/store"
	"github.com/suanli/suanli/internal/store/etcd"
	"github.com/suanli/suanli/internal/store/etcdtest"
)

// neverElector never wins: a replica that only serves the API.
type neverElector struct{}

func (neverElector) Campaign(ctx context.Context) (context.Context, func(), error) {
	<-ctx.Done()
	return nil, nil, ctx.Err()
}

func (neverElector) Leader(context.Context) (string, error) { return "", ErrNoLeader }

// startReplicaNet starts a replica of nw on the cluster, its store
// wrap(the etcd store), elected by el (nil: the etcd election).
func startReplicaNet(t *testing.T, c *etcdtest.Cluster, name string, nw *network.Network, wrap func(store.Store) store.Store, el Elector) *replica {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	var st store.Store = etcd.New(cli, etcd.Config{})
	if wrap != nil {
		st = wrap(st)
	}
	if el == nil {
		el = EtcdElector{Client: cli, Candidate: name, TTL: 1}
	}
	srv, err := New(Config{Store: st, Network: nw, Elector: el})
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

// racingStore is an etcd store on which another writer rewrites one job
// (as an agent's report does) just before the scheduler's first commit
// that writes it, so that the commit meets a real revision conflict. After
// every transaction it reads the job records back and keeps any card that
// two placed or running records hold.
type racingStore struct {
	store.Store
	key     atomic.Pointer[string] // the job key to race on
	raced   atomic.Int32           // commits raced
	epochs  atomic.Int32           // leader starts (epoch writes)
	mu      sync.Mutex
	overlap []string
}

func (r *racingStore) Txn(ctx context.Context, t store.Txn) (int64, error) {
	if k := r.key.Load(); k != nil && schedulerCommit(t) && writesKey(t, *k) && r.raced.Add(1) == 1 {
		if kv, err := r.Store.Get(ctx, *k); err == nil {
			if _, err := r.Store.Txn(ctx, store.Txn{Ops: []store.Op{store.PutOp(*k, kv.Value)}}); err != nil {
				return 0, fmt.Errorf("race on %s: %w", *k, err)
			}
		}
	}
	if writesKey(t, epochKey) {
		r.epochs.Add(1)
	}
	rev, err := r.Store.Txn(ctx, t)
	if o := overlaps(ctx, r.Store); o != "" {
		r.mu.Lock()
		r.overlap = append(r.overlap, o)
		r.mu.Unlock()
	}
	return rev, err
}

func writesKey(t store.Txn, key string) bool {
	for _, op := range t.Ops {
		if op.Key == key {
			return true
		}
	}
	return false
}

// overlaps names a card that two placed or running job records in the
// store hold whole, or returns "".
func overlaps(ctx context.Context, s store.Store) string {
	kvs, rev, err := s.List(ctx, jobPrefix)
	if err != nil {
		return ""
	}
	held := map[string]model.JobID{}
	for _, kv := range kvs {
		r, err := decodeJob(kv.Value)
		if err != nil || r.Placement == nil || (r.State != model.Placed && r.State != model.Running) {
			continue
		}
		for _, a := range r.Placement.Assignments {
			for _, c := range a.Cards {
				k := fmt.Sprintf("%s/%d", a.Node, c)
				if o, ok := held[k]; ok && a.ShareMilli == 0 {
					return fmt.Sprintf("at revision %d card %s is held by %s and %s (%s)", rev, k, o, r.Spec.ID, r.State)
				}
				held[k] = r.Spec.ID
			}
		}
	}
	return ""
}

// TestCommitConflictKeepsRecordsApart: a leader decides, in one pass, the
// end of a job and more than one transaction's worth of others, among them
// jobs placed on the cards the ended job frees. Another writer rewrites
// the ended job just before the scheduler commits it. The store must never
// hold two placed records on one card (a new leader would refuse one), and
// the conflict must not end the leadership: the leader re-reads the job and
// commits again.
func TestCommitConflictKeepsRecordsApart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an etcd cluster")
	}
	ctx := context.Background()
	cluster := etcdtest.Start(t, 3)
	nw := smallNetwork(t)
	a := startReplicaNet(t, cluster, "a", nw, nil, nil)
	waitLeader(t, a)
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
	submit := func(c *v1.Client, workers int, mod string) string {
		t.Helper()
		j, err := c.Submit(ctx, v1.JobSpec{Tenant: "acme", Kind: "gang", Workers: workers, CardsPerWorker: 8, Models: []string{mod}})
		if err != nil {
			t.Fatal(err)
		}
		return j.ID
	}
	// z runs on the MLU370s; x holds every 910B4 card.
	z := submit(c, 1, "cambricon-mlu370-x8")
	waitState(t, c, z, v1.StatePlaced)
	time.Sleep(2 * time.Millisecond) // job ids sort by submission time
	x := submit(c, 4, "huawei-ascend-910b4")
	waitState(t, c, x, v1.StatePlaced)
	a.kill()

	// With no leader: 70 jobs queue for the 910B4s (more than one
	// scheduler transaction holds), z's agent says it runs, x's that it
	// has completed.
	f := startReplicaNet(t, cluster, "f", nw, nil, neverElector{})
	cf := v1.NewClient(f.url, admin.Secret)
	var ys []string
	for range jobsPerCommit + 10 {
		ys = append(ys, submit(cf, 1, "huawei-ascend-910b4"))
	}
	agent := fleetAgent(nw)
	if _, err := f.srv.Report(ctx, agent, z, v1.StatusReport{State: "running"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.srv.Report(ctx, agent, x, v1.StatusReport{State: "completed"}); err != nil {
		t.Fatal(err)
	}

	// The next leader restores them: z's start tries the queue (every
	// 910B4 card is x's), x's end frees the cards, four queued jobs take
	// them; one pass, one Ready, two transactions at least.
	rs := &racingStore{}
	key := jobKey(model.JobID(x))
	rs.key.Store(&key)
	b := startReplicaNet(t, cluster, "b", nw, func(s store.Store) store.Store { rs.Store = s; return rs }, nil)
	cb := v1.NewClient(b.url, admin.Secret)
	waitState(t, cb, x, v1.StateCompleted)
	placed := 0
	for _, id := range ys {
		j := waitState(t, cb, id, v1.StatePlaced, v1.StateBlocked)
		if j.State == v1.StatePlaced {
			placed++
		}
	}
	if rs.raced.Load() == 0 {
		t.Fatal("the scheduler never committed x's end through the racing store")
	}
	rs.mu.Lock()
	for _, o := range rs.overlap {
		t.Errorf("the store holds placements that overlap: %s", o)
	}
	rs.mu.Unlock()
	if placed != 4 {
		t.Errorf("%d queued jobs placed on x's 32 cards, want 4", placed)
	}
	if n := rs.epochs.Load(); n != 1 {
		t.Errorf("replica b started leading %d times: a revision conflict on commit made it step down", n)
	}
}

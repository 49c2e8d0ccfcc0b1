package etcd_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/suanli/suanli/internal/store"
	"github.com/suanli/suanli/internal/store/etcd"
	"github.com/suanli/suanli/internal/store/etcdtest"
	"github.com/suanli/suanli/internal/store/storetest"
)

// The conformance suite against a real 3-member cluster; each subtest gets
// its own key prefix.
func TestConformance(t *testing.T) {
	c := etcdtest.Start(t, 3)
	cli := c.Client(t)
	var n atomic.Int64
	storetest.Run(t,
		func(t *testing.T) store.Store {
			return etcd.New(cli, etcd.Config{Prefix: fmt.Sprintf("/test/%d/", n.Add(1))})
		},
		storetest.WithReopen(func(t *testing.T, old store.Store) store.Store {
			if err := old.Close(); err != nil {
				t.Fatal(err)
			}
			return etcd.New(cli, etcd.Config{Prefix: old.(*etcd.Store).Prefix()})
		}))
}

// List reads ranges larger than one page at a single revision.
func TestListPages(t *testing.T) {
	c := etcdtest.Start(t, 1)
	s := etcd.New(c.Client(t), etcd.Config{})
	defer s.Close()
	ctx := context.Background()
	const n = 2500
	for i := 0; i < n; i += store.MaxTxnOps {
		var ops []store.Op
		for j := i; j < min(i+store.MaxTxnOps, n); j++ {
			ops = append(ops, store.PutOp(fmt.Sprintf("k/%05d", j), []byte("v")))
		}
		if _, err := s.Txn(ctx, store.Txn{Ops: ops}); err != nil {
			t.Fatal(err)
		}
	}
	kvs, rev, err := s.List(ctx, "k/")
	if err != nil {
		t.Fatal(err)
	}
	if len(kvs) != n {
		t.Fatalf("list: %d keys, want %d", len(kvs), n)
	}
	for i, kv := range kvs {
		if want := fmt.Sprintf("k/%05d", i); kv.Key != want || kv.ModRev > rev {
			t.Fatalf("list[%d] = %q at %d (list rev %d), want %q", i, kv.Key, kv.ModRev, rev, want)
		}
	}
	if _, err := s.Txn(ctx, store.Txn{Ops: []store.Op{store.PutOp("l", nil)}}); err != nil {
		t.Fatal(err)
	}
	kvs2, rev2, err := s.List(ctx, "k/")
	if err != nil || len(kvs2) != n || rev2 <= rev {
		t.Fatalf("second list: %d keys, rev %d (first %d), err %v", len(kvs2), rev2, rev, err)
	}
}

// A cluster that lost its quorum answers with ErrUnavailable, not an
// opaque error.
func TestNoQuorumIsUnavailable(t *testing.T) {
	c := etcdtest.Start(t, 3)
	s := etcd.New(c.Client(t, 0), etcd.Config{})
	defer s.Close()
	ctx := context.Background()
	if _, err := s.Txn(ctx, store.Txn{Ops: []store.Op{store.PutOp("k", []byte("v"))}}); err != nil {
		t.Fatal(err)
	}
	c.Kill(1)
	c.Kill(2)
	tctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	_, err := s.Txn(tctx, store.Txn{Ops: []store.Op{store.PutOp("k", []byte("w"))}})
	if !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("txn without quorum: %v, want ErrUnavailable", err)
	}
	gctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if _, _, err := s.List(gctx, "k"); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("list without quorum: %v, want ErrUnavailable", err)
	}
}

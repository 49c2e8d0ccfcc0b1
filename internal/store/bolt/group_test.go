package bolt_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/suanli/suanli/internal/store"
	"github.com/suanli/suanli/internal/store/bolt"
)

// Concurrent Txn calls share commits, yet each caller gets its own CAS
// result: of 64 racing creates of one key exactly one wins.
func TestGroupCommitPerCallerResults(t *testing.T) {
	ctx := context.Background()
	s := open(t, bolt.Config{})
	defer s.Close()
	const writers = 64
	var (
		wg        sync.WaitGroup
		start     = make(chan struct{})
		wins      atomic.Int64
		conflicts atomic.Int64
		winRev    atomic.Int64
	)
	for i := range writers {
		wg.Go(func() {
			<-start
			// Each writer also creates its own key: those must all succeed.
			if _, err := s.Txn(ctx, store.Txn{Conds: []store.Cond{{Key: fmt.Sprintf("own/%d", i)}},
				Ops: []store.Op{store.PutOp(fmt.Sprintf("own/%d", i), nil)}}); err != nil {
				t.Errorf("writer %d: create own key: %v", i, err)
			}
			rev, err := s.Txn(ctx, store.Txn{Conds: []store.Cond{{Key: "leader"}},
				Ops: []store.Op{store.PutOp("leader", fmt.Appendf(nil, "%d", i))}})
			switch {
			case err == nil:
				wins.Add(1)
				winRev.Store(rev)
			case errors.Is(err, store.ErrConflict):
				conflicts.Add(1)
			default:
				t.Errorf("writer %d: %v", i, err)
			}
		})
	}
	close(start)
	wg.Wait()
	if wins.Load() != 1 || conflicts.Load() != writers-1 {
		t.Fatalf("%d wins and %d conflicts, want 1 and %d", wins.Load(), conflicts.Load(), writers-1)
	}
	kv, err := s.Get(ctx, "leader")
	if err != nil || kv.ModRev != winRev.Load() {
		t.Fatalf("leader key %+v err %v, want mod rev %d", kv, err, winRev.Load())
	}
	kvs, _, err := s.List(ctx, "own/")
	if err != nil || len(kvs) != writers {
		t.Fatalf("own keys: %d, err %v; want %d", len(kvs), err, writers)
	}
	st := s.Stats()
	if st.Txns != 2*writers || st.Commits >= st.Txns {
		t.Fatalf("stats %+v: want %d txns in fewer commits", st, 2*writers)
	}
}

// A Txn whose context has ended is not applied, even if queued.
func TestCancelledTxnNotApplied(t *testing.T) {
	s := open(t, bolt.Config{})
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Txn(ctx, store.Txn{Ops: []store.Op{store.PutOp("k", nil)}}); !errors.Is(err, context.Canceled) {
		t.Fatalf("txn with a cancelled ctx: err = %v, want context.Canceled", err)
	}
	if _, err := s.Get(context.Background(), "k"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("cancelled txn was applied: %v", err)
	}
}

// BenchmarkDurableTxn measures acknowledged, fsync'd CAS transactions per
// second with concurrent writers (group commit).
func BenchmarkDurableTxn(b *testing.B) {
	for _, writers := range []int{1, 64} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			b.ReportAllocs()
			s := open(b, bolt.Config{})
			defer s.Close()
			benchWriters(b, s, writers)
			st := s.Stats()
			b.ReportMetric(float64(st.Txns)/float64(max(st.Commits, 1)), "txns/commit")
		})
	}
}

func benchWriters(b *testing.B, s store.Store, writers int) {
	ctx := context.Background()
	value := make([]byte, 256)
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for w := range writers {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				key := fmt.Sprintf("bench/%d/%d", w, i)
				if _, err := s.Txn(ctx, store.Txn{Conds: []store.Cond{{Key: key}}, Ops: []store.Op{store.PutOp(key, value)}}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "txn/s")
}

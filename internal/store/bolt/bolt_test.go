package bolt_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/suanli/suanli/internal/store"
	"github.com/suanli/suanli/internal/store/bolt"
	"github.com/suanli/suanli/internal/store/storetest"
)

func open(t testing.TB, cfg bolt.Config) *bolt.Store {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	s, err := bolt.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t,
		func(t *testing.T) store.Store { return open(t, bolt.Config{}) },
		storetest.WithReopen(func(t *testing.T, old store.Store) store.Store {
			if err := old.Close(); err != nil {
				t.Fatal(err)
			}
			return open(t, bolt.Config{Dir: old.(*bolt.Store).Dir()})
		}))
}

func TestOpenErrors(t *testing.T) {
	if _, err := bolt.Open(bolt.Config{}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("open without a dir: err = %v, want ErrInvalid", err)
	}
	dir := t.TempDir()
	s := open(t, bolt.Config{Dir: dir})
	defer s.Close()
	if _, err := bolt.Open(bolt.Config{Dir: dir, LockTimeout: 50 * time.Millisecond}); err == nil {
		t.Errorf("second open of a locked dir succeeded")
	}
}

// The on-disk history is bounded, trimmed a whole revision at a time, and the
// bound survives reopening.
func TestHistoryBound(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, bolt.Config{Dir: dir, HistoryEvents: 8})
	var revs []int64
	for i := range 40 {
		rev, err := s.Txn(ctx, store.Txn{Ops: []store.Op{
			store.PutOp(fmt.Sprintf("a/%d", i), nil), store.PutOp(fmt.Sprintf("b/%d", i), nil),
		}})
		if err != nil {
			t.Fatal(err)
		}
		revs = append(revs, rev)
	}
	s.Close()
	s = open(t, bolt.Config{Dir: dir, HistoryEvents: 8})
	defer s.Close()
	if _, err := s.Watch(ctx, "", revs[0]); !errors.Is(err, store.ErrCompacted) {
		t.Fatalf("watch from the first revision: err = %v, want ErrCompacted", err)
	}
	w, err := s.Watch(ctx, "", revs[35])
	if err != nil {
		t.Fatal(err)
	}
	for i := 36; i < 40; i++ {
		for _, p := range []string{"a", "b"} {
			ev := <-w
			if ev.Rev != revs[i] || ev.KV.Key != fmt.Sprintf("%s/%d", p, i) {
				t.Fatalf("event %+v, want %s/%d at %d", ev, p, i, revs[i])
			}
		}
	}
	kvs, _, err := s.List(ctx, "")
	if err != nil || len(kvs) != 80 {
		t.Fatalf("list: %d kvs, err %v; want 80", len(kvs), err)
	}
}

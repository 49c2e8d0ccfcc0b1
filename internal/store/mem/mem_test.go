package mem_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/suanli/suanli/internal/store"
	"github.com/suanli/suanli/internal/store/mem"
	"github.com/suanli/suanli/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return mem.New(mem.Config{}) })
}

// The history is bounded: old revisions compact away whole, and a watch from
// before the retained history fails with ErrCompacted.
func TestHistoryBound(t *testing.T) {
	ctx := context.Background()
	s := mem.New(mem.Config{HistoryEvents: 8})
	defer s.Close()
	var revs []int64
	for i := range 40 {
		// Two events per revision: trimming must never split one.
		rev, err := s.Txn(ctx, store.Txn{Ops: []store.Op{
			store.PutOp(fmt.Sprintf("a/%d", i), nil), store.PutOp(fmt.Sprintf("b/%d", i), nil),
		}})
		if err != nil {
			t.Fatal(err)
		}
		revs = append(revs, rev)
	}
	if _, err := s.Watch(ctx, "", revs[0]); !errors.Is(err, store.ErrCompacted) {
		t.Fatalf("watch from the first revision: err = %v, want ErrCompacted", err)
	}
	// The last 4 revisions (8 events) are always retained.
	w, err := s.Watch(ctx, "", revs[35])
	if err != nil {
		t.Fatal(err)
	}
	for i := 36; i < 40; i++ {
		for _, p := range []string{"a", "b"} {
			ev := <-w
			if ev.Rev != revs[i] || ev.KV.Key != fmt.Sprintf("%s/%d", p, i) {
				t.Fatalf("event %v, want %s/%d at %d", ev, p, i, revs[i])
			}
		}
	}
}

func BenchmarkTxn(b *testing.B) {
	b.ReportAllocs()
	ctx := context.Background()
	s := mem.New(mem.Config{})
	defer s.Close()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			if _, err := s.Txn(ctx, store.Txn{Ops: []store.Op{store.PutOp(fmt.Sprintf("k/%d", i%1000), []byte("v"))}}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// A watcher that stops reading while the history moves past it is cut off:
// its channel closes after the events it was already given, in order, so the
// consumer knows to re-list.
func TestWatcherFallsBehind(t *testing.T) {
	ctx := context.Background()
	s := mem.New(mem.Config{HistoryEvents: 16})
	defer s.Close()
	w, err := s.Watch(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	const writes = 1000
	for i := range writes {
		if _, err := s.Txn(ctx, store.Txn{Ops: []store.Op{store.PutOp("k", fmt.Appendf(nil, "%d", i))}}); err != nil {
			t.Fatal(err)
		}
	}
	var last int64
	n := 0
	for ev := range w {
		if ev.Rev != last+1 {
			t.Fatalf("event at %d after %d: a gap inside the delivered stream", ev.Rev, last)
		}
		last = ev.Rev
		n++
	}
	if n >= writes {
		t.Fatalf("all %d events delivered through a 16-event history; the watcher should have been cut off", n)
	}
}

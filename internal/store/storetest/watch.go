package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/suanli/suanli/internal/store"
)

func next(t *testing.T, w <-chan store.Event) store.Event {
	t.Helper()
	select {
	case ev, ok := <-w:
		if !ok {
			t.Fatal("watch channel closed, want an event")
		}
		return ev
	case <-time.After(wait):
		t.Fatalf("no event within %v", wait)
	}
	panic("unreachable")
}

func expectEvent(t *testing.T, w <-chan store.Event, want store.Event) {
	t.Helper()
	got := next(t, w)
	if got.Type != want.Type || got.Rev != want.Rev || got.KV.Key != want.KV.Key ||
		!bytes.Equal(got.KV.Value, want.KV.Value) || got.KV.ModRev != want.KV.ModRev ||
		(want.Type == store.Put && got.KV.CreateRev != want.KV.CreateRev) {
		t.Fatalf("event %s, want %s", fmtEvent(got), fmtEvent(want))
	}
}

func expectClosed(t *testing.T, w <-chan store.Event) {
	t.Helper()
	timeout := time.After(wait)
	for {
		select {
		case _, ok := <-w:
			if !ok {
				return
			}
		case <-timeout:
			t.Fatalf("watch channel still open after %v", wait)
		}
	}
}

func putEvent(key, value string, createRev, rev int64) store.Event {
	return store.Event{Type: store.Put, KV: store.KV{Key: key, Value: []byte(value), CreateRev: createRev, ModRev: rev}, Rev: rev}
}

func deleteEvent(key string, rev int64) store.Event {
	return store.Event{Type: store.Delete, KV: store.KV{Key: key, ModRev: rev}, Rev: rev}
}

func testWatchFromPast(t *testing.T, st store.Store) {
	ctx := ctxFor(t)
	var revs []int64
	for i := range 5 {
		revs = append(revs, blindPut(t, st, fmt.Sprintf("w/%d", i), "v"))
		blindPut(t, st, "other/x", "noise") // filtered out by prefix
	}
	w, err := st.Watch(ctx, "w/", revs[1])
	if err != nil {
		t.Fatal(err)
	}
	for i := 2; i < 5; i++ {
		expectEvent(t, w, putEvent(fmt.Sprintf("w/%d", i), "v", revs[i], revs[i]))
	}
	// History runs straight into live events.
	rd, err := st.Txn(ctx, store.Txn{Ops: []store.Op{store.DeleteOp("w/0")}})
	if err != nil {
		t.Fatal(err)
	}
	blindPut(t, st, "other/y", "noise")
	ru := blindPut(t, st, "w/4", "v2")
	expectEvent(t, w, deleteEvent("w/0", rd))
	expectEvent(t, w, putEvent("w/4", "v2", revs[4], ru))

	// From just before the first write (0 on a fresh store): the whole
	// history of the prefix.
	all, err := st.Watch(ctx, "w/", revs[0]-1)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		expectEvent(t, all, putEvent(fmt.Sprintf("w/%d", i), "v", revs[i], revs[i]))
	}
	expectEvent(t, all, deleteEvent("w/0", rd))
}

func testWatchFromPresent(t *testing.T, st store.Store) {
	ctx := ctxFor(t)
	r0 := blindPut(t, st, "n/a", "1")
	_, rev, err := st.List(ctx, "n/")
	if err != nil || rev != r0 {
		t.Fatalf("list: rev %d err %v, want %d", rev, err, r0)
	}
	w, err := st.Watch(ctx, "n/", rev)
	if err != nil {
		t.Fatal(err)
	}
	w2, err := st.Watch(ctx, "n/", rev) // two watchers see the same stream
	if err != nil {
		t.Fatal(err)
	}
	r1 := put(t, st, "n/a", "2", r0)
	blindPut(t, st, "m/a", "noise")
	r2, err := st.Txn(ctx, store.Txn{Ops: []store.Op{store.DeleteOp("n/a")}})
	if err != nil {
		t.Fatal(err)
	}
	r3 := put(t, st, "n/b", "3", 0)
	want := []store.Event{putEvent("n/a", "2", r0, r1), deleteEvent("n/a", r2), putEvent("n/b", "3", r3, r3)}
	for _, c := range []<-chan store.Event{w, w2} {
		for _, we := range want {
			expectEvent(t, c, we)
		}
	}
}

func testWatchFuture(t *testing.T, st store.Store) {
	ctx := ctxFor(t)
	blindPut(t, st, "f/0", "v")
	_, now, err := st.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	from := now + 1
	w, err := st.Watch(ctx, "f/", from)
	if err != nil {
		t.Fatal(err)
	}
	var want []store.Event
	for i := 1; i <= 3; i++ {
		key := fmt.Sprintf("f/%d", i)
		if rev := blindPut(t, st, key, "v"); rev > from {
			want = append(want, putEvent(key, "v", rev, rev))
		}
	}
	for _, we := range want {
		expectEvent(t, w, we)
	}
}

func testWatchCancel(t *testing.T, st store.Store) {
	ctx, cancel := context.WithCancel(ctxFor(t))
	w, err := st.Watch(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	blindPut(t, st, "k", "v")
	next(t, w)
	cancel()
	expectClosed(t, w)
	blindPut(t, st, "k", "v2") // writers never block on a cancelled watcher
}

// A watcher that does not read never blocks writers, and later receives
// every event in order.
func testWatchSlowConsumer(t *testing.T, st store.Store) {
	const writes = 300 // more than any reasonable channel buffer
	ctx := ctxFor(t)
	r0 := blindPut(t, st, "s/0", "v")
	w, err := st.Watch(ctx, "s/", r0)
	if err != nil {
		t.Fatal(err)
	}
	revs := make([]int64, writes)
	for i := range revs {
		revs[i] = blindPut(t, st, fmt.Sprintf("s/%d", i%7), strconv.Itoa(i))
	}
	for i, rev := range revs {
		ev := next(t, w)
		if ev.Rev != rev || string(ev.KV.Value) != strconv.Itoa(i) {
			t.Fatalf("event %d: %s, want value %d at %d", i, fmtEvent(ev), i, rev)
		}
	}
}

func testWatchCompacted(t *testing.T, st store.Store) {
	c, ok := st.(store.Compactor)
	if !ok {
		t.Skip("store has no Compact")
	}
	ctx := ctxFor(t)
	r1 := blindPut(t, st, "c/1", "v")
	r2 := blindPut(t, st, "c/2", "v")
	r3 := blindPut(t, st, "c/3", "v")
	if err := c.Compact(ctx, r2); err != nil {
		t.Fatalf("compact to %d: %v", r2, err)
	}
	if _, err := st.Watch(ctx, "c/", r1-1); !errors.Is(err, store.ErrCompacted) {
		t.Fatalf("watch from %d after compacting to %d: err = %v, want ErrCompacted", r1-1, r2, err)
	}
	w, err := st.Watch(ctx, "c/", r2)
	if err != nil {
		t.Fatalf("watch from the compaction revision %d: %v", r2, err)
	}
	expectEvent(t, w, putEvent("c/3", "v", r3, r3))
	// The current state is untouched by compaction.
	kvs, _, err := st.List(ctx, "c/")
	if err != nil || len(kvs) != 3 {
		t.Fatalf("list after compaction: %d kvs, err %v; want 3", len(kvs), err)
	}
}

func testConcurrentCounter(t *testing.T, st store.Store) {
	const workers, increments = 8, 25
	ctx := ctxFor(t)
	put(t, st, "counter", "0", 0)
	revs := make(chan int64, workers*increments)
	var g errgroup.Group
	for range workers {
		g.Go(func() error {
			for range increments {
				for {
					kv, err := st.Get(ctx, "counter")
					if err != nil {
						return err
					}
					n, err := strconv.Atoi(string(kv.Value))
					if err != nil {
						return fmt.Errorf("counter value %q: %w", kv.Value, err)
					}
					rev, err := st.Txn(ctx, store.Txn{
						Conds: []store.Cond{{Key: "counter", ModRev: kv.ModRev}},
						Ops:   []store.Op{store.PutOp("counter", []byte(strconv.Itoa(n+1)))},
					})
					if errors.Is(err, store.ErrConflict) {
						continue
					}
					if err != nil {
						return err
					}
					revs <- rev
					break
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	close(revs)
	seen := map[int64]bool{}
	for r := range revs {
		if seen[r] {
			t.Fatalf("two increments acknowledged at the same revision %d", r)
		}
		seen[r] = true
	}
	if got := string(mustGet(t, st, "counter").Value); got != strconv.Itoa(workers*increments) {
		t.Fatalf("counter = %s after %d CAS increments: lost updates", got, workers*increments)
	}
}

func (s *suite) testReopen(t *testing.T) {
	st := s.newStore(t)
	defer func() { st.Close() }()
	ra := put(t, st, "p/a", "1", 0)
	rb := put(t, st, "p/b", "1", 0)
	ra2 := put(t, st, "p/a", "2", ra)
	rd, err := st.Txn(ctxFor(t), store.Txn{Ops: []store.Op{store.DeleteOp("p/b")}})
	if err != nil {
		t.Fatal(err)
	}
	before, rev, err := st.List(ctxFor(t), "")
	if err != nil {
		t.Fatal(err)
	}
	for round := range 2 {
		st = s.reopen(t, st)
		after, rev2, err := st.List(ctxFor(t), "")
		if err != nil {
			t.Fatalf("round %d: list after reopen: %v", round, err)
		}
		if rev2 != rev || fmt.Sprint(kvStrings(after)) != fmt.Sprint(kvStrings(before)) {
			t.Fatalf("round %d: after reopen rev %d %v, want rev %d %v", round, rev2, kvStrings(after), rev, kvStrings(before))
		}
		// The history survives too.
		w, err := st.Watch(ctxFor(t), "p/", ra)
		if err != nil {
			t.Fatalf("round %d: watch history after reopen: %v", round, err)
		}
		expectEvent(t, w, putEvent("p/b", "1", rb, rb))
		expectEvent(t, w, putEvent("p/a", "2", ra, ra2))
		expectEvent(t, w, deleteEvent("p/b", rd))
		// Revisions keep increasing and CAS keeps working.
		if _, err := st.Txn(ctxFor(t), store.Txn{Conds: []store.Cond{{Key: "p/a", ModRev: ra}}}); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("round %d: stale cond after reopen: err = %v, want ErrConflict", round, err)
		}
		r := blindPut(t, st, fmt.Sprintf("q/%d", round), "v")
		if r <= rev {
			t.Fatalf("round %d: write after reopen got rev %d, not after %d", round, r, rev)
		}
		before, rev, err = st.List(ctxFor(t), "")
		if err != nil {
			t.Fatal(err)
		}
	}
}

func kvStrings(kvs []store.KV) []string {
	out := make([]string, len(kvs))
	for i, kv := range kvs {
		out[i] = fmtKV(kv)
	}
	return out
}

// Package storetest is the one conformance suite every store.Store
// implementation passes: mem, bolt and etcd run the same Run.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/suanli/suanli/internal/store"
)

// Option adjusts Run.
type Option func(*suite)

// WithReopen enables the persistence tests: reopen closes old and returns a
// store over the same data.
func WithReopen(reopen func(t *testing.T, old store.Store) store.Store) Option {
	return func(s *suite) { s.reopen = reopen }
}

type suite struct {
	newStore func(t *testing.T) store.Store
	reopen   func(t *testing.T, old store.Store) store.Store
}

// wait bounds every blocking step so that a broken store fails, not hangs.
const wait = 10 * time.Second

// Run runs the conformance suite. newStore returns a fresh, empty store; Run
// closes it when the subtest ends.
func Run(t *testing.T, newStore func(t *testing.T) store.Store, opts ...Option) {
	s := &suite{newStore: newStore}
	for _, o := range opts {
		o(s)
	}
	tests := []struct {
		name string
		fn   func(*testing.T, store.Store)
	}{
		{"GetMissing", testGetMissing},
		{"CreateUpdateDelete", testCreateUpdateDelete},
		{"ConflictAllOrNothing", testConflictAllOrNothing},
		{"MultiOpTxn", testMultiOpTxn},
		{"NoOpTxn", testNoOpTxn},
		{"Values", testValues},
		{"ListPrefix", testListPrefix},
		{"ListPage", testListPage},
		{"RevisionMonotonic", testRevisionMonotonic},
		{"WatchFromPast", testWatchFromPast},
		{"WatchFromPresent", testWatchFromPresent},
		{"WatchFuture", testWatchFuture},
		{"WatchCancel", testWatchCancel},
		{"WatchSlowConsumer", testWatchSlowConsumer},
		{"WatchCompacted", testWatchCompacted},
		{"ConcurrentCounter", testConcurrentCounter},
		{"BadInput", testBadInput},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := s.newStore(t)
			t.Cleanup(func() { st.Close() })
			tc.fn(t, st)
		})
	}
	t.Run("Closed", func(t *testing.T) { testClosed(t, s.newStore(t)) })
	t.Run("Reopen", func(t *testing.T) {
		if s.reopen == nil {
			t.Skip("store is not durable")
		}
		s.testReopen(t)
	})
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 4*wait)
	t.Cleanup(cancel)
	return ctx
}

func put(t *testing.T, st store.Store, key, value string, modRev int64) int64 {
	t.Helper()
	rev, err := st.Txn(ctxFor(t), store.Txn{
		Conds: []store.Cond{{Key: key, ModRev: modRev}},
		Ops:   []store.Op{store.PutOp(key, []byte(value))},
	})
	if err != nil {
		t.Fatalf("put %q=%q if mod rev %d: %v", key, value, modRev, err)
	}
	return rev
}

func blindPut(t *testing.T, st store.Store, key, value string) int64 {
	t.Helper()
	rev, err := st.Txn(ctxFor(t), store.Txn{Ops: []store.Op{store.PutOp(key, []byte(value))}})
	if err != nil {
		t.Fatalf("put %q=%q: %v", key, value, err)
	}
	return rev
}

func mustGet(t *testing.T, st store.Store, key string) store.KV {
	t.Helper()
	kv, err := st.Get(ctxFor(t), key)
	if err != nil {
		t.Fatalf("get %q: %v", key, err)
	}
	return kv
}

func wantKV(t *testing.T, got store.KV, key, value string, createRev, modRev int64) {
	t.Helper()
	if got.Key != key || string(got.Value) != value || got.CreateRev != createRev || got.ModRev != modRev {
		t.Fatalf("got %s, want key %q value %q create %d mod %d", fmtKV(got), key, value, createRev, modRev)
	}
}

func fmtKV(kv store.KV) string {
	return fmt.Sprintf("{%q=%q create %d mod %d}", kv.Key, kv.Value, kv.CreateRev, kv.ModRev)
}

func fmtEvent(ev store.Event) string {
	return fmt.Sprintf("%v %s @%d", ev.Type, fmtKV(ev.KV), ev.Rev)
}

func testGetMissing(t *testing.T, st store.Store) {
	_, err := st.Get(ctxFor(t), "missing")
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get missing key: err = %v, want ErrNotFound", err)
	}
}

func testCreateUpdateDelete(t *testing.T, st store.Store) {
	ctx := ctxFor(t)
	r1 := put(t, st, "job/a", "v1", 0)
	wantKV(t, mustGet(t, st, "job/a"), "job/a", "v1", r1, r1)

	// Creating again must fail: the key exists.
	_, err := st.Txn(ctx, store.Txn{Conds: []store.Cond{{Key: "job/a"}}, Ops: []store.Op{store.PutOp("job/a", []byte("x"))}})
	var ce *store.ConflictError
	if !errors.Is(err, store.ErrConflict) || !errors.As(err, &ce) || ce.Key != "job/a" || ce.Want != 0 || ce.Got != r1 {
		t.Fatalf("create existing: err = %v, want *ConflictError{job/a want 0 got %d}", err, r1)
	}

	r2 := put(t, st, "job/a", "v2", r1)
	if r2 <= r1 {
		t.Fatalf("update rev %d not after create rev %d", r2, r1)
	}
	wantKV(t, mustGet(t, st, "job/a"), "job/a", "v2", r1, r2)

	// A stale CAS fails and changes nothing.
	_, err = st.Txn(ctx, store.Txn{Conds: []store.Cond{{Key: "job/a", ModRev: r1}}, Ops: []store.Op{store.PutOp("job/a", []byte("lost"))}})
	if !errors.As(err, &ce) || ce.Key != "job/a" || ce.Want != r1 || ce.Got != r2 {
		t.Fatalf("stale update: err = %v, want *ConflictError{job/a want %d got %d}", err, r1, r2)
	}
	wantKV(t, mustGet(t, st, "job/a"), "job/a", "v2", r1, r2)

	r3, err := st.Txn(ctx, store.Txn{Conds: []store.Cond{{Key: "job/a", ModRev: r2}}, Ops: []store.Op{store.DeleteOp("job/a")}})
	if err != nil || r3 <= r2 {
		t.Fatalf("delete: rev %d err %v, want rev > %d", r3, err, r2)
	}
	if _, err := st.Get(ctx, "job/a"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get deleted key: err = %v, want ErrNotFound", err)
	}
	// A condition on a deleted key sees it as missing.
	_, err = st.Txn(ctx, store.Txn{Conds: []store.Cond{{Key: "job/a", ModRev: r2}}, Ops: []store.Op{store.PutOp("job/a", nil)}})
	if !errors.As(err, &ce) || ce.Got != 0 {
		t.Fatalf("cas on deleted key: err = %v, want *ConflictError with Got 0", err)
	}
	r4 := put(t, st, "job/a", "v3", 0)
	if r4 <= r3 {
		t.Fatalf("recreate rev %d not after delete rev %d", r4, r3)
	}
	wantKV(t, mustGet(t, st, "job/a"), "job/a", "v3", r4, r4)
}

func testConflictAllOrNothing(t *testing.T, st store.Store) {
	ctx := ctxFor(t)
	ra := put(t, st, "a", "1", 0)
	rb := put(t, st, "b", "1", 0)
	_, before, err := st.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = st.Txn(ctx, store.Txn{
		Conds: []store.Cond{{Key: "a", ModRev: ra}, {Key: "b", ModRev: ra}, {Key: "c"}},
		Ops:   []store.Op{store.PutOp("a", []byte("2")), store.PutOp("c", []byte("2")), store.DeleteOp("b")},
	})
	var ce *store.ConflictError
	if !errors.As(err, &ce) || ce.Key != "b" || ce.Want != ra || ce.Got != rb {
		t.Fatalf("txn with one failing cond: err = %v, want *ConflictError on b", err)
	}
	if !strings.Contains(err.Error(), `"b"`) {
		t.Errorf("conflict error %q does not name the key", err)
	}
	kvs, after, err := st.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if after != before || len(kvs) != 2 || string(kvs[0].Value) != "1" || string(kvs[1].Value) != "1" {
		t.Fatalf("failed txn changed the store: rev %d→%d, kvs %v", before, after, kvs)
	}
}

func testMultiOpTxn(t *testing.T, st store.Store) {
	ctx := ctxFor(t)
	r0 := put(t, st, "x/c", "old", 0)
	rx := put(t, st, "x/b", "old", 0)
	w, err := st.Watch(ctx, "x/", rx)
	if err != nil {
		t.Fatal(err)
	}
	rev, err := st.Txn(ctx, store.Txn{
		Conds: []store.Cond{{Key: "x/c", ModRev: r0}, {Key: "x/a"}},
		Ops:   []store.Op{store.PutOp("x/a", []byte("A")), store.PutOp("x/b", []byte("B")), store.DeleteOp("x/c")},
	})
	if err != nil {
		t.Fatal(err)
	}
	wantKV(t, mustGet(t, st, "x/a"), "x/a", "A", rev, rev)
	wantKV(t, mustGet(t, st, "x/b"), "x/b", "B", rx, rev)
	want := []store.Event{
		{Type: store.Put, KV: store.KV{Key: "x/a", Value: []byte("A"), CreateRev: rev, ModRev: rev}, Rev: rev},
		{Type: store.Put, KV: store.KV{Key: "x/b", Value: []byte("B"), CreateRev: rx, ModRev: rev}, Rev: rev},
		{Type: store.Delete, KV: store.KV{Key: "x/c", ModRev: rev}, Rev: rev},
	}
	for _, we := range want {
		expectEvent(t, w, we)
	}
}

func testNoOpTxn(t *testing.T, st store.Store) {
	ctx := ctxFor(t)
	r1 := put(t, st, "k", "v", 0)
	w, err := st.Watch(ctx, "", r1)
	if err != nil {
		t.Fatal(err)
	}
	for _, txn := range []store.Txn{
		{},
		{Conds: []store.Cond{{Key: "k", ModRev: r1}}},
		{Ops: []store.Op{store.DeleteOp("never-existed")}},
	} {
		rev, err := st.Txn(ctx, txn)
		if err != nil || rev != r1 {
			t.Fatalf("no-op txn %+v: rev %d err %v, want rev %d (unchanged)", txn, rev, err, r1)
		}
	}
	// A condition-only txn still checks its conditions.
	if _, err := st.Txn(ctx, store.Txn{Conds: []store.Cond{{Key: "k"}}}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("condition-only txn on a false cond: err = %v, want ErrConflict", err)
	}
	r2 := blindPut(t, st, "k", "v2")
	ev := next(t, w)
	if ev.Rev != r2 || ev.KV.Key != "k" {
		t.Fatalf("first event after no-op txns = %s, want the put at %d", fmtEvent(ev), r2)
	}
}

func testValues(t *testing.T, st store.Store) {
	for _, v := range []string{"", "\x00\xff\x00", strings.Repeat("z", 64<<10)} {
		rev := blindPut(t, st, "bin", v)
		kv := mustGet(t, st, "bin")
		if !bytes.Equal(kv.Value, []byte(v)) || kv.ModRev != rev {
			t.Fatalf("value of %d bytes came back as %d bytes (mod %d, want %d)", len(v), len(kv.Value), kv.ModRev, rev)
		}
		kv.Value = append(kv.Value[:0], "mutated"...) // must not reach the store
		if got := mustGet(t, st, "bin"); !bytes.Equal(got.Value, []byte(v)) {
			t.Fatalf("mutating a returned value changed the store")
		}
	}
	// Keys are bytes: any UTF-8 and separators are fine.
	key := "租户/智算-中心/\x01"
	blindPut(t, st, key, "ok")
	if kv := mustGet(t, st, key); string(kv.Value) != "ok" {
		t.Fatalf("unicode key: %s", fmtKV(kv))
	}
}

func testListPrefix(t *testing.T, st store.Store) {
	ctx := ctxFor(t)
	revs := map[string]int64{}
	for _, k := range []string{"node/2", "node/10", "nodes", "node/1", "job/1", "node/"} {
		revs[k] = blindPut(t, st, k, "v-"+k)
	}
	last := blindPut(t, st, "zz", "last")
	cases := []struct {
		prefix string
		want   []string
	}{
		{"node/", []string{"node/", "node/1", "node/10", "node/2"}},
		{"node", []string{"node/", "node/1", "node/10", "node/2", "nodes"}},
		{"", []string{"job/1", "node/", "node/1", "node/10", "node/2", "nodes", "zz"}},
		{"node/1", []string{"node/1", "node/10"}},
		{"absent/", nil},
	}
	for _, c := range cases {
		kvs, rev, err := st.List(ctx, c.prefix)
		if err != nil {
			t.Fatalf("list %q: %v", c.prefix, err)
		}
		if rev != last {
			t.Errorf("list %q: rev %d, want %d", c.prefix, rev, last)
		}
		var got []string
		for _, kv := range kvs {
			got = append(got, kv.Key)
			if string(kv.Value) != "v-"+kv.Key && kv.Key != "zz" {
				t.Errorf("list %q: %s has the wrong value", c.prefix, fmtKV(kv))
			}
			if r, ok := revs[kv.Key]; ok && (kv.ModRev != r || kv.CreateRev != r) {
				t.Errorf("list %q: %s, want create = mod = %d", c.prefix, fmtKV(kv), r)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("list %q = %v, want %v", c.prefix, got, c.want)
		}
	}
	// Deleted keys leave the listing; re-created ones come back once.
	if _, err := st.Txn(ctx, store.Txn{Ops: []store.Op{store.DeleteOp("node/1"), store.DeleteOp("node/2")}}); err != nil {
		t.Fatal(err)
	}
	blindPut(t, st, "node/2", "v-node/2")
	kvs, _, err := st.List(ctx, "node/")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, kv := range kvs {
		got = append(got, kv.Key)
	}
	if want := "[node/ node/10 node/2]"; fmt.Sprint(got) != want {
		t.Fatalf("after delete and re-create: list = %v, want %s", got, want)
	}
}

func testListPage(t *testing.T, st store.Store) {
	ctx := ctxFor(t)
	var want []string
	for i := range 25 {
		k := fmt.Sprintf("log/%03d", i)
		blindPut(t, st, k, "v-"+k)
		want = append(want, k)
	}
	blindPut(t, st, "log", "outside")
	last := blindPut(t, st, "loh/1", "outside")
	// Page through in sevens.
	var got []string
	after := ""
	for range 10 {
		kvs, rev, err := st.ListPage(ctx, "log/", after, 7)
		if err != nil {
			t.Fatalf("page after %q: %v", after, err)
		}
		if rev != last {
			t.Errorf("page after %q: rev %d, want %d", after, rev, last)
		}
		if len(kvs) > 7 {
			t.Fatalf("page after %q: %d keys, over the limit of 7", after, len(kvs))
		}
		for _, kv := range kvs {
			if string(kv.Value) != "v-"+kv.Key {
				t.Errorf("page: %s has the wrong value", fmtKV(kv))
			}
			got = append(got, kv.Key)
		}
		if len(kvs) < 7 {
			break
		}
		after = kvs[len(kvs)-1].Key
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("paged = %v, want %v", got, want)
	}
	// after before the prefix starts at its first key; after beyond it is empty.
	if kvs, _, err := st.ListPage(ctx, "log/", "a", 2); err != nil || len(kvs) != 2 || kvs[0].Key != "log/000" {
		t.Errorf("page after a key before the prefix: %v %v", kvs, err)
	}
	if kvs, _, err := st.ListPage(ctx, "log/", "log/024", 5); err != nil || len(kvs) != 0 {
		t.Errorf("page after the last key: %v %v", kvs, err)
	}
	if kvs, _, err := st.ListPage(ctx, "log/", "log/010", 1); err != nil || len(kvs) != 1 || kvs[0].Key != "log/011" {
		t.Errorf("page after log/010: %v %v", kvs, err)
	}
	if _, _, err := st.ListPage(ctx, "log/", "", 0); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("page of 0 keys: %v, want ErrInvalid", err)
	}
}

func testRevisionMonotonic(t *testing.T, st store.Store) {
	var prev int64
	for i := range 20 {
		rev := blindPut(t, st, fmt.Sprintf("k%d", i%3), "v")
		if rev <= prev {
			t.Fatalf("write %d got rev %d, not after %d", i, rev, prev)
		}
		prev = rev
	}
	_, rev, err := st.List(ctxFor(t), "")
	if err != nil || rev != prev {
		t.Fatalf("list rev %d err %v, want %d", rev, err, prev)
	}
}

func testBadInput(t *testing.T, st store.Store) {
	ctx := ctxFor(t)
	long := strings.Repeat("k", store.MaxKeyBytes+1)
	if _, err := st.Get(ctx, ""); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("get empty key: err = %v, want ErrInvalid", err)
	}
	if _, err := st.Get(ctx, long); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("get long key: err = %v, want ErrInvalid", err)
	}
	if _, _, err := st.List(ctx, long); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("list long prefix: err = %v, want ErrInvalid", err)
	}
	if _, err := st.Watch(ctx, "", -1); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("watch from -1: err = %v, want ErrInvalid", err)
	}
	tooMany := make([]store.Op, store.MaxTxnOps+1)
	for i := range tooMany {
		tooMany[i] = store.PutOp(fmt.Sprintf("k%d", i), nil)
	}
	cases := []struct {
		name  string
		txn   store.Txn
		paths []string // every problem must be reported
	}{
		{"empty op key", store.Txn{Ops: []store.Op{store.PutOp("", []byte("v"))}}, []string{"ops[0]"}},
		{"empty delete key", store.Txn{Ops: []store.Op{store.DeleteOp("")}}, []string{"ops[0]"}},
		{"empty cond key", store.Txn{Conds: []store.Cond{{Key: ""}}}, []string{"conds[0]"}},
		{"negative cond", store.Txn{Conds: []store.Cond{{Key: "a", ModRev: -2}}}, []string{"conds[0]"}},
		{"duplicate op keys", store.Txn{Ops: []store.Op{store.PutOp("a", nil), store.DeleteOp("a")}}, []string{"ops[1]"}},
		{"unknown op", store.Txn{Ops: []store.Op{{Type: 9, Key: "a"}}}, []string{"ops[0]"}},
		{"huge value", store.Txn{Ops: []store.Op{store.PutOp("a", make([]byte, store.MaxValueBytes+1))}}, []string{"ops[0]"}},
		{"long key", store.Txn{Ops: []store.Op{store.PutOp(long, nil)}}, []string{"ops[0]"}},
		{"too many ops", store.Txn{Ops: tooMany}, []string{"ops:"}},
		{"all at once", store.Txn{
			Conds: []store.Cond{{Key: "a", ModRev: -1}, {Key: ""}},
			Ops:   []store.Op{store.PutOp("", nil), store.PutOp("b", nil), store.PutOp("b", nil)},
		}, []string{"conds[0]", "conds[1]", "ops[0]", "ops[2]"}},
	}
	for _, c := range cases {
		_, err := st.Txn(ctx, c.txn)
		if !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", c.name, err)
			continue
		}
		for _, p := range c.paths {
			if !strings.Contains(err.Error(), p) {
				t.Errorf("%s: error %q does not mention %s", c.name, err, p)
			}
		}
	}
	kvs, _, err := st.List(ctx, "")
	if err != nil || len(kvs) != 0 {
		t.Fatalf("bad input wrote something: %v %v", kvs, err)
	}
}

func testClosed(t *testing.T, st store.Store) {
	ctx := ctxFor(t)
	rev := blindPut(t, st, "k", "v")
	w, err := st.Watch(ctx, "", rev)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	expectClosed(t, w)
	if err := st.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if _, err := st.Get(ctx, "k"); !errors.Is(err, store.ErrClosed) {
		t.Errorf("get after close: err = %v, want ErrClosed", err)
	}
	if _, _, err := st.List(ctx, ""); !errors.Is(err, store.ErrClosed) {
		t.Errorf("list after close: err = %v, want ErrClosed", err)
	}
	if _, err := st.Txn(ctx, store.Txn{Ops: []store.Op{store.PutOp("k", nil)}}); !errors.Is(err, store.ErrClosed) {
		t.Errorf("txn after close: err = %v, want ErrClosed", err)
	}
	if _, err := st.Watch(ctx, "", 0); !errors.Is(err, store.ErrClosed) {
		t.Errorf("watch after close: err = %v, want ErrClosed", err)
	}
}

package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/suanli/suanli/internal/store"
	"github.com/suanli/suanli/internal/store/mem"
)

// appendN writes n entries in batches of three, as the server does.
func appendN(t *testing.T, s store.Store, n int) {
	t.Helper()
	ctx := context.Background()
	now := time.Date(2026, 11, 3, 8, 0, 0, 0, time.UTC)
	for i := 0; i < n; i += 3 {
		head, rev, err := LoadHead(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		var recs []Record
		for k := i; k < min(i+3, n); k++ {
			recs = append(recs, Record{Actor: "admin:t1", Action: "job.submit", Target: fmt.Sprintf("j-%d", k)})
		}
		entries, nh := Chain(head, recs, now.Add(time.Duration(i)*time.Second))
		ops, err := Ops(entries, nh)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Txn(ctx, store.Txn{Conds: []store.Cond{{Key: HeadKey, ModRev: rev}}, Ops: ops}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestVerify(t *testing.T) {
	ctx := context.Background()
	put := func(s store.Store, key string, e Entry) {
		b, _ := json.Marshal(e)
		if _, err := s.Txn(ctx, store.Txn{Ops: []store.Op{store.PutOp(key, b)}}); err != nil {
			t.Fatal(err)
		}
	}
	get := func(s store.Store, seq int64) Entry {
		kv, err := s.Get(ctx, Key(seq))
		if err != nil {
			t.Fatal(err)
		}
		var e Entry
		if err := json.Unmarshal(kv.Value, &e); err != nil {
			t.Fatal(err)
		}
		return e
	}
	del := func(s store.Store, key string) {
		if _, err := s.Txn(ctx, store.Txn{Ops: []store.Op{store.DeleteOp(key)}}); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name   string
		tamper func(s store.Store)
		want   string // a problem contains this; "" means none
	}{
		{"intact", func(store.Store) {}, ""},
		{"edit detail", func(s store.Store) {
			e := get(s, 4)
			e.Detail = "nothing to see"
			put(s, Key(4), e)
		}, "entry 4: content does not match its hash"},
		{"edit and rehash", func(s store.Store) {
			e := get(s, 4)
			e.Actor = "admin:someone-else"
			e.Hash = e.Sum()
			put(s, Key(4), e)
		}, "entry 5: prev hash"},
		{"delete middle", func(s store.Store) { del(s, Key(5)) }, "entries 5 to 5 are missing"},
		{"delete first", func(s store.Store) { del(s, Key(1)) }, "entries 1 to 1 are missing"},
		{"delete newest", func(s store.Store) { del(s, Key(10)) }, "head names entry 10"},
		{"delete newest and rewind head", func(s store.Store) {
			del(s, Key(10))
			b, _ := json.Marshal(Head{Seq: 9, Hash: "forged"})
			if _, err := s.Txn(ctx, store.Txn{Ops: []store.Op{store.PutOp(HeadKey, b)}}); err != nil {
				t.Fatal(err)
			}
		}, "head names entry 9"},
		{"move entry", func(s store.Store) {
			e := get(s, 3)
			del(s, Key(3))
			put(s, Key(11), e)
		}, "holds entry 3"},
		{"garbage", func(s store.Store) {
			if _, err := s.Txn(ctx, store.Txn{Ops: []store.Op{store.PutOp(Key(7), []byte("{"))}}); err != nil {
				t.Fatal(err)
			}
		}, "does not decode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mem.New(mem.Config{})
			defer s.Close()
			appendN(t, s, 10)
			tt.tamper(s)
			n, probs, err := Verify(ctx, s, nil)
			if err != nil {
				t.Fatal(err)
			}
			if n < 9 {
				t.Errorf("verified %d entries, want at least 9", n)
			}
			if tt.want == "" {
				if len(probs) > 0 {
					t.Fatalf("problems in an intact log: %q", probs)
				}
				return
			}
			if !strings.Contains(strings.Join(probs, "\n"), tt.want) {
				t.Fatalf("problems %q do not mention %q", probs, tt.want)
			}
		})
	}
}

func TestReadPages(t *testing.T) {
	s := mem.New(mem.Config{})
	defer s.Close()
	appendN(t, s, 7)
	got, err := Read(context.Background(), s, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Seq != 3 || got[2].Seq != 5 {
		t.Fatalf("Read(after 2, 3) = %+v", got)
	}
	if got[0].Prev == Genesis || got[0].Hash != got[1].Prev {
		t.Errorf("entries not chained: %+v", got)
	}
}

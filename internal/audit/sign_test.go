package audit

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/suanli/suanli/internal/store"
	"github.com/suanli/suanli/internal/store/mem"
)

// appendSigned writes n entries in batches of three, signed as the server
// signs them; it returns the head as stored after each batch.
func appendSigned(t testing.TB, s store.Store, sg *Signer, n int) map[int64][]byte {
	t.Helper()
	ctx := context.Background()
	heads := map[int64][]byte{}
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
		cops, err := sg.Sign(entries, &nh)
		if err != nil {
			t.Fatal(err)
		}
		ops, err := Ops(entries, nh)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Txn(ctx, store.Txn{Conds: []store.Cond{{Key: HeadKey, ModRev: rev}}, Ops: append(ops, cops...)}); err != nil {
			t.Fatal(err)
		}
		heads[nh.Seq], _ = json.Marshal(nh)
	}
	return heads
}

func newKey(t testing.TB) ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestSignedChainTampering: every way of rewriting the log without the
// key fails verification with the key, though some pass the bare hash
// chain.
func TestSignedChainTampering(t *testing.T) {
	ctx := context.Background()
	sg := NewSigner(newKey(t))
	keys, err := ParseKeys([]string{sg.Public()})
	if err != nil {
		t.Fatal(err)
	}
	const n = 1005 // one checkpoint, at entry 1000
	put := func(s store.Store, key string, v any) {
		b, _ := json.Marshal(v)
		if _, err := s.Txn(ctx, store.Txn{Ops: []store.Op{store.PutOp(key, b)}}); err != nil {
			t.Fatal(err)
		}
	}
	entry := func(s store.Store, seq int64) Entry {
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
	drop := func(s store.Store, from int64) {
		for seq := from; seq <= n; seq++ {
			if _, err := s.Txn(ctx, store.Txn{Ops: []store.Op{store.DeleteOp(Key(seq))}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// rewrite edits entry from and recomputes every later hash and the
	// head, as someone with write access to the store but not the key can.
	rewrite := func(s store.Store, from int64) {
		prev := entry(s, from-1).Hash
		var last Entry
		for seq := from; seq <= n; seq++ {
			e := entry(s, seq)
			if seq == from {
				e.Detail = "nothing to see"
			}
			e.Prev = prev
			e.Hash = e.Sum()
			put(s, Key(seq), e)
			prev, last = e.Hash, e
		}
		put(s, HeadKey, Head{Seq: last.Seq, Hash: last.Hash})
	}
	cases := []struct {
		name      string
		tamper    func(s store.Store, heads map[int64][]byte)
		keys      map[string]ed25519.PublicKey
		bareFails bool     // the hash chain alone catches it
		want      []string // with the key
	}{
		{"intact", func(store.Store, map[int64][]byte) {}, keys, false, nil},
		{"edited after the checkpoint, later hashes recomputed", func(s store.Store, _ map[int64][]byte) { rewrite(s, 1002) }, keys, false,
			[]string{"head (entry 1005) is not signed"}},
		{"edited before the checkpoint, later hashes recomputed", func(s store.Store, _ map[int64][]byte) { rewrite(s, 10) }, keys, true,
			[]string{"entry 1000: its hash", "not the one its signed checkpoint names", "head (entry 1005) is not signed"}},
		{"edited, head signature kept", func(s store.Store, _ map[int64][]byte) {
			kv, _ := s.Get(ctx, HeadKey)
			var h Head
			_ = json.Unmarshal(kv.Value, &h)
			rewrite(s, 1003)
			last := entry(s, n)
			put(s, HeadKey, Head{Seq: last.Seq, Hash: last.Hash, Signature: h.Signature})
		}, keys, false, []string{"head (entry 1005) has a signature that does not match it"}},
		{"newest entries dropped, head moved back", func(s store.Store, _ map[int64][]byte) {
			drop(s, 1003)
			e := entry(s, 1002)
			put(s, HeadKey, Head{Seq: e.Seq, Hash: e.Hash})
		}, keys, false, []string{"head (entry 1002) is not signed"}},
		{"entries after a checkpoint dropped, an old signed head restored", func(s store.Store, heads map[int64][]byte) {
			drop(s, 997)
			if _, err := s.Txn(ctx, store.Txn{Ops: []store.Op{store.PutOp(HeadKey, heads[996])}}); err != nil {
				t.Fatal(err)
			}
		}, keys, true, []string{"checkpoint of entry 1000: the entry is gone (the log ends at entry 996)"}},
		{"signed by another key", func(store.Store, map[int64][]byte) {}, func() map[string]ed25519.PublicKey {
			k, _ := ParseKeys([]string{NewSigner(newKey(t)).Public()})
			return k
		}(), false, []string{"not a trusted key"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := mem.New(mem.Config{})
			heads := appendSigned(t, s, sg, n)
			tc.tamper(s, heads)
			_, bare, err := Verify(ctx, s, nil)
			if err != nil {
				t.Fatal(err)
			}
			if (len(bare) > 0) != tc.bareFails {
				t.Errorf("hash chain alone: %q", bare)
			}
			_, probs, err := Verify(ctx, s, tc.keys)
			if err != nil {
				t.Fatal(err)
			}
			if len(tc.want) == 0 && len(probs) > 0 {
				t.Fatalf("intact signed log: %q", probs)
			}
			if len(tc.want) > 0 && len(probs) == 0 {
				t.Fatal("tampered log passes verification with the key")
			}
			all := strings.Join(probs, "\n")
			for _, w := range tc.want {
				if !strings.Contains(all, w) {
					t.Errorf("problems %q do not say %q", probs, w)
				}
			}
		})
	}
}

func TestKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d", "audit.key")
	k, created, err := LoadOrCreateKey(path)
	if err != nil || !created {
		t.Fatalf("first start: %v %v", created, err)
	}
	k2, created, err := LoadOrCreateKey(path)
	if err != nil || created || !k.Equal(k2) {
		t.Fatalf("second start: created %v, same key %v, %v", created, k.Equal(k2), err)
	}
	if _, err := ParseKeys([]string{"not-a-key"}); err == nil || !strings.Contains(err.Error(), "not a base64 ed25519 public key") {
		t.Errorf("bad key: %v", err)
	}
}

// TestVouch: a writer that signs on top of a head it did not sign says so
// in the chain, and verification reports it for good; a log written before
// signing began is taken up without a problem.
func TestVouch(t *testing.T) {
	ctx := context.Background()
	sg := NewSigner(newKey(t))
	keys, _ := ParseKeys([]string{sg.Public()})
	write := func(s store.Store, recs ...Record) {
		h, rev, err := LoadHead(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		if r := sg.Vouch(h); r != nil {
			recs = append([]Record{*r}, recs...)
		}
		entries, nh := Chain(h, recs, time.Now())
		cops, _ := sg.Sign(entries, &nh)
		ops, _ := Ops(entries, nh)
		if _, err := s.Txn(ctx, store.Txn{Conds: []store.Cond{{Key: HeadKey, ModRev: rev}}, Ops: append(ops, cops...)}); err != nil {
			t.Fatal(err)
		}
	}
	rec := Record{Actor: "admin", Action: "job.submit"}

	// Unsigned before: sign-start, no problem.
	s := mem.New(mem.Config{})
	appendN(t, s, 10)
	write(s, rec)
	if _, probs, _ := Verify(ctx, s, keys); len(probs) != 0 {
		t.Errorf("log signed from entry 11: %q", probs)
	}
	es, _ := Read(ctx, s, 10, 1)
	if len(es) != 1 || es[0].Action != ActionSignStart {
		t.Errorf("entry 11 = %+v, want %s", es, ActionSignStart)
	}

	// Signed by another key (or rewritten): head-rejected, a problem
	// that stays after later signed writes.
	s = mem.New(mem.Config{})
	appendSigned(t, s, NewSigner(newKey(t)), 10)
	write(s, rec)
	write(s, rec)
	_, probs, _ := Verify(ctx, s, keys)
	if !strings.Contains(strings.Join(probs, "\n"), "entry 11: a writer found a head it had not signed") {
		t.Errorf("problems %q do not report the rejected head", probs)
	}

	// Signature stripped after checkpoints: sign-start is a problem.
	s = mem.New(mem.Config{})
	appendSigned(t, s, sg, 1002)
	kv, _ := s.Get(ctx, HeadKey)
	var h Head
	_ = json.Unmarshal(kv.Value, &h)
	h.Signature = nil
	hb, _ := json.Marshal(h)
	if _, err := s.Txn(ctx, store.Txn{Ops: []store.Op{store.PutOp(HeadKey, hb)}}); err != nil {
		t.Fatal(err)
	}
	write(s, rec)
	_, probs, _ = Verify(ctx, s, keys)
	if !strings.Contains(strings.Join(probs, "\n"), "the head's signature was stripped") {
		t.Errorf("problems %q do not report the stripped signature", probs)
	}
}

// pageOnly fails the test if the log is read whole (List) or in pages
// larger than verifyPage.
type pageOnly struct {
	store.Store
	t     *testing.T
	pages int
}

func (p *pageOnly) List(ctx context.Context, prefix string) ([]store.KV, int64, error) {
	p.t.Errorf("List(%q): the audit log is read whole", prefix)
	return p.Store.List(ctx, prefix)
}

func (p *pageOnly) ListPage(ctx context.Context, prefix, after string, limit int) ([]store.KV, int64, error) {
	if limit > verifyPage {
		p.t.Errorf("ListPage(%q, %d): a page over %d entries", prefix, limit, verifyPage)
	}
	p.pages++
	return p.Store.ListPage(ctx, prefix, after, limit)
}

// TestVerifyAndReadPage: verification and reads go a page at a time, so
// their memory does not grow with the log.
func TestVerifyAndReadPage(t *testing.T) {
	ctx := context.Background()
	s := mem.New(mem.Config{})
	sg := NewSigner(newKey(t))
	appendSigned(t, s, sg, 3*verifyPage+7)
	p := &pageOnly{Store: s, t: t}
	keys, _ := ParseKeys([]string{sg.Public()})
	n, probs, err := Verify(ctx, p, keys)
	if err != nil || len(probs) > 0 || n != 3*verifyPage+7 {
		t.Fatalf("verify: %d entries, %q, %v", n, probs, err)
	}
	if p.pages < 4 {
		t.Errorf("verify read %d pages for 3007 entries", p.pages)
	}
	es, err := Read(ctx, p, 2500, 10)
	if err != nil || len(es) != 10 || es[0].Seq != 2501 {
		t.Fatalf("read after 2500: %d entries from %v, %v", len(es), es, err)
	}
}

// BenchmarkVerify: the heap Verify allocates per entry stays flat as the
// log grows (a page at a time).
func BenchmarkVerify(b *testing.B) {
	for _, n := range []int{3000, 30000} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			s := mem.New(mem.Config{})
			sg := NewSigner(newKey(b))
			appendSigned(b, s, sg, n)
			keys, _ := ParseKeys([]string{sg.Public()})
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, probs, err := Verify(context.Background(), s, keys); err != nil || len(probs) > 0 {
					b.Fatal(probs, err)
				}
			}
		})
	}
}

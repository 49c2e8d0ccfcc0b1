package server

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/audit"
	"github.com/suanli/suanli/internal/store"
	"github.com/suanli/suanli/internal/store/mem"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestAuditSignedAndVerifiedAtStart: a server with a key signs the chain;
// `audit verify --key` passes; a log rewritten in the store fails it, and
// the next start says so.
func TestAuditSignedAndVerifiedAtStart(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	pub := audit.NewSigner(key).Public()
	st := mem.New(mem.Config{})
	cfg := Config{Store: st, Network: smallNetwork(t), AuditKey: key, TickEvery: 50 * time.Millisecond}
	srv, url, stop := runServer(t, cfg)
	admin := v1.NewClient(url, adminToken(t, srv))
	ctx := context.Background()
	if _, err := admin.PutTenant(ctx, v1.Tenant{ID: "acme", Class: "private"}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		j, err := admin.Submit(ctx, v1.JobSpec{Tenant: "acme", Kind: "batch", Workers: 1, CardsPerWorker: 1})
		if err != nil {
			t.Fatal(err)
		}
		waitState(t, admin, j.ID, v1.StatePlaced)
	}
	v, err := admin.VerifyAudit(ctx, pub)
	if err != nil || !v.OK || !v.Signed {
		t.Fatalf("intact signed log: %+v %v", v, err)
	}
	if _, err := admin.VerifyAudit(ctx, "bogus"); err == nil || !strings.Contains(err.Error(), "400") {
		t.Errorf("a bad key: %v, want a 400", err)
	}
	stop()

	// Edit the newest entry and recompute its hash and the head, keeping
	// the head's old signature.
	kv, err := st.Get(ctx, audit.HeadKey)
	if err != nil {
		t.Fatal(err)
	}
	var h audit.Head
	_ = json.Unmarshal(kv.Value, &h)
	ekv, err := st.Get(ctx, audit.Key(h.Seq))
	if err != nil {
		t.Fatal(err)
	}
	var e audit.Entry
	_ = json.Unmarshal(ekv.Value, &e)
	e.Actor = "someone else"
	e.Hash = e.Sum()
	eb, _ := json.Marshal(e)
	h.Hash = e.Hash
	hb, _ := json.Marshal(h)
	if _, err := st.Txn(ctx, store.Txn{Ops: []store.Op{store.PutOp(audit.Key(e.Seq), eb), store.PutOp(audit.HeadKey, hb)}}); err != nil {
		t.Fatal(err)
	}
	if _, bare, _ := audit.Verify(ctx, st, nil); len(bare) != 0 {
		t.Fatalf("the bare hash chain was expected to miss this rewrite: %q", bare)
	}

	var logs syncBuf
	cfg.Log = slog.New(slog.NewTextHandler(&logs, nil))
	srv2, url2, _ := runServer(t, cfg)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), "AUDIT LOG FAILS VERIFICATION") {
		if time.Now().After(deadline) {
			t.Fatalf("the start did not say the log is broken; log:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	mfs, _ := srv2.Registry().Gather()
	broken := false
	for _, mf := range mfs {
		broken = broken || (mf.GetName() == "suanli_audit_broken" && mf.GetMetric()[0].GetGauge().GetValue() == 1)
	}
	if !broken {
		t.Error("suanli_audit_broken is not 1")
	}
	v, err = v1.NewClient(url2, admin.Token).VerifyAudit(ctx, pub)
	if err != nil || v.OK || !strings.Contains(strings.Join(v.Problems, " "), "signature that does not match") {
		t.Errorf("rewritten log with the key: %+v %v", v, err)
	}
}

// TestAuditRollbackCaughtByWitness: a store rolled back to an older,
// genuinely signed state (the newest entries and their checkpoint dropped,
// the head as it was then) passes verification with the key, but the next
// start compares it with the checkpoint this replica kept outside the
// store and says so.
func TestAuditRollbackCaughtByWitness(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	pub := audit.NewSigner(key).Public()
	st := mem.New(mem.Config{})
	witness := t.TempDir() + "/audit.key.witness"
	cfg := Config{Store: st, Network: smallNetwork(t), AuditKey: key, AuditWitness: witness}
	srv, _, stop := runServer(t, cfg)
	ctx := context.Background()
	var old []byte // the head, signed, before the checkpoint
	for range 9 {
		m := &mutation{}
		for range 120 {
			m.audit = append(m.audit, audit.Record{Actor: "test", Action: "test.fill"})
		}
		if _, err := srv.w.apply(ctx, m); err != nil {
			t.Fatal(err)
		}
		if kv, err := st.Get(ctx, audit.HeadKey); err == nil {
			var h audit.Head
			_ = json.Unmarshal(kv.Value, &h)
			if h.Seq < audit.CheckpointEvery {
				old = kv.Value
			}
		}
	}
	stop()
	var h audit.Head
	_ = json.Unmarshal(old, &h)
	kv, _ := st.Get(ctx, audit.HeadKey)
	var last audit.Head
	_ = json.Unmarshal(kv.Value, &last)
	ops := []store.Op{store.PutOp(audit.HeadKey, old), store.DeleteOp(audit.CheckpointKey(audit.CheckpointEvery))}
	for seq := h.Seq + 1; seq <= last.Seq; seq++ {
		ops = append(ops, store.DeleteOp(audit.Key(seq)))
	}
	for i := 0; i < len(ops); i += store.MaxTxnOps {
		if _, err := st.Txn(ctx, store.Txn{Ops: ops[i:min(i+store.MaxTxnOps, len(ops))]}); err != nil {
			t.Fatal(err)
		}
	}
	keys, _ := audit.ParseKeys([]string{pub})
	if _, probs, err := audit.Verify(ctx, st, keys); err != nil || len(probs) > 0 {
		t.Fatalf("the rolled-back log was expected to pass the store-only check: %q %v", probs, err)
	}
	var logs syncBuf
	cfg.Log = slog.New(slog.NewTextHandler(&logs, nil))
	runServer(t, cfg)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), "AUDIT LOG FAILS VERIFICATION") || !strings.Contains(logs.String(), "rolled back") {
		if time.Now().After(deadline) {
			t.Fatalf("the start did not say the log was rolled back; log:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/suanli/suanli/internal/audit"
	"github.com/suanli/suanli/internal/store"
)

// mutation is one logical write: its conditions, its ops and the audit
// records it appends. The writer batches many into one store transaction
// (group commit) and chains their audit entries.
type mutation struct {
	conds []store.Cond
	ops   []store.Op
	audit []audit.Record
	done  chan result
}

type result struct {
	rev int64
	err error
}

// size is the ops and conditions the mutation adds to a transaction.
func (m *mutation) size() (ops, conds int) { return len(m.ops) + len(m.audit), len(m.conds) }

// auditOps is the ops a transaction adds to its mutations': the audit head,
// every audit.CheckpointEvery entries a signed checkpoint, and once an
// entry about the head found (audit.Signer.Vouch).
const auditOps = 3

// auditBytes is what one audit entry may add to a transaction: its record
// with the chain's fields (sequence, time, two hashes) and its key.
const auditBytes = 512

// bytes is about what the mutation adds to a transaction's keys and values.
func (m *mutation) bytes() int {
	n := 0
	for _, c := range m.conds {
		n += len(c.Key)
	}
	for _, op := range m.ops {
		n += len(op.Key) + len(op.Value)
	}
	for _, r := range m.audit {
		n += auditBytes + len(r.Actor) + len(r.Action) + len(r.Target) + len(r.Detail)
	}
	return n
}

// clashes reports whether the mutation writes a key already in keys (a
// transaction writes each key once).
func (m *mutation) clashes(keys map[string]bool) bool {
	for _, op := range m.ops {
		if keys[op.Key] {
			return true
		}
	}
	return false
}

func (m *mutation) addKeys(keys map[string]bool) {
	for _, op := range m.ops {
		keys[op.Key] = true
	}
}

// writer owns the audit head and serialises every write of this replica.
type writer struct {
	s       store.Store
	in      chan *mutation
	now     func() time.Time
	head    audit.Head
	rev     int64         // the head key's mod revision; -1: unknown
	sign    *audit.Signer // nil: the chain is not signed
	witness audit.Witness // where the newest signed checkpoint is kept ("": nowhere)
	log     *slog.Logger
	// note is what the head last loaded needs said before anything is
	// signed on top of it (audit.Signer.Vouch); nil: nothing.
	note *audit.Record
}

func newWriter(s store.Store, now func() time.Time) *writer {
	return &writer{s: s, in: make(chan *mutation, 4096), now: now, rev: -1}
}

// apply queues a mutation and waits for its outcome.
func (w *writer) apply(ctx context.Context, m *mutation) (int64, error) {
	if len(m.ops)+len(m.audit)+auditOps > store.MaxTxnOps || len(m.conds)+1 > store.MaxTxnOps {
		return 0, fmt.Errorf("write of %d ops: over the transaction limit", len(m.ops)+len(m.audit))
	}
	m.done = make(chan result, 1)
	select {
	case w.in <- m:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	select {
	case r := <-m.done:
		return r.rev, r.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// run commits queued mutations until ctx ends.
func (w *writer) run(ctx context.Context) {
	var batch []*mutation
	for {
		batch = batch[:0]
		select {
		case <-ctx.Done():
			return
		case m := <-w.in:
			batch = append(batch, m)
		}
		ops, conds := batch[0].size()
		size := batch[0].bytes()
		keys := map[string]bool{}
		batch[0].addKeys(keys)
	fill:
		for {
			select {
			case m := <-w.in:
				o, c := m.size()
				b := m.bytes()
				if ops+o+auditOps > store.MaxTxnOps || conds+c+1 > store.MaxTxnOps || size+b+auditBytes > store.MaxTxnBytes || m.clashes(keys) {
					w.commit(ctx, batch)
					batch = append(batch[:0], m)
					ops, conds, size = o, c, b
					clear(keys)
					m.addKeys(keys)
					continue
				}
				batch = append(batch, m)
				m.addKeys(keys)
				ops, conds, size = ops+o, conds+c, size+b
			default:
				break fill
			}
		}
		w.commit(ctx, batch)
	}
}

// commit writes the batch in one transaction guarded by the audit head and
// every mutation's own conditions. A lost race on the head reloads it and
// retries; a mutation whose own condition fails gets the conflict and the
// rest retry without it.
func (w *writer) commit(ctx context.Context, batch []*mutation) {
	live := append([]*mutation(nil), batch...)
	for attempt := 0; len(live) > 0; attempt++ {
		if w.rev < 0 {
			h, rev, err := audit.LoadHead(ctx, w.s)
			if err != nil {
				finish(live, 0, err)
				return
			}
			w.head, w.rev = h, rev
			w.note = w.sign.Vouch(h)
		}
		var t store.Txn
		var recs []audit.Record
		if w.note != nil {
			recs = append(recs, *w.note)
		}
		owner := map[string]*mutation{}
		for _, m := range live {
			t.Conds = append(t.Conds, m.conds...)
			t.Ops = append(t.Ops, m.ops...)
			recs = append(recs, m.audit...)
			for _, c := range m.conds {
				owner[c.Key] = m
			}
		}
		t.Conds = append(t.Conds, store.Cond{Key: audit.HeadKey, ModRev: w.rev})
		entries, head := audit.Chain(w.head, recs, w.now())
		cops, err := w.sign.Sign(entries, &head)
		if err != nil {
			finish(live, 0, err)
			return
		}
		aops, err := audit.Ops(entries, head)
		if err != nil {
			finish(live, 0, err)
			return
		}
		t.Ops = append(append(t.Ops, aops...), cops...)
		rev, err := w.s.Txn(ctx, t)
		if err == nil {
			w.head, w.rev, w.note = head, rev, nil
			if cps := audit.Checkpoints(entries); w.sign != nil && len(cps) > 0 {
				if err := w.witness.Save(cps[len(cps)-1]); err != nil {
					w.log.Warn("audit witness not saved", "err", err)
				}
			}
			finish(live, rev, nil)
			return
		}
		var ce *store.ConflictError
		switch {
		case errors.As(err, &ce) && ce.Key == audit.HeadKey:
			w.rev = -1 // another replica appended; reload and retry
		case errors.As(err, &ce) && owner[ce.Key] != nil:
			m := owner[ce.Key]
			m.done <- result{err: err}
			live = remove(live, m)
		case errors.Is(err, store.ErrInvalid) && len(live) > 1:
			// Some mutation's write is one the store refuses (too
			// large): nothing was written. Commit each alone, so that
			// only the bad one fails.
			for _, m := range live {
				w.commit(ctx, []*mutation{m})
			}
			return
		default:
			w.rev = -1 // the outcome is unknown: re-read the head
			finish(live, 0, err)
			return
		}
		if attempt > 100 {
			finish(live, 0, fmt.Errorf("commit: %d attempts lost the audit head race: %w", attempt, store.ErrConflict))
			return
		}
	}
}

func finish(ms []*mutation, rev int64, err error) {
	for _, m := range ms {
		m.done <- result{rev: rev, err: err}
	}
}

func remove(ms []*mutation, x *mutation) []*mutation {
	out := ms[:0]
	for _, m := range ms {
		if m != x {
			out = append(out, m)
		}
	}
	return out
}

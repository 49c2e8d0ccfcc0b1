package bolt

import (
	"context"
	"errors"
	"fmt"
	"runtime"

	bbolt "go.etcd.io/bbolt"

	"github.com/suanli/suanli/internal/store"
)

// request is one Txn (or Compact) waiting for the committer.
type request struct {
	ctx     context.Context
	txn     store.Txn
	compact int64 // > 0: a Compact request instead of a Txn
	done    chan result
}

type result struct {
	rev int64
	err error
}

// Txn implements store.Committer. The call queues the transaction for the
// committer, which applies it together with every other queued one in a
// single fsync'd bolt transaction; conditions are checked in queue order
// against the state left by the transactions before it.
func (s *Store) Txn(ctx context.Context, t store.Txn) (int64, error) {
	if err := t.Validate(); err != nil {
		return 0, fmt.Errorf("txn: %w", err)
	}
	res, err := s.submit(&request{ctx: ctx, txn: t, done: make(chan result, 1)})
	if err != nil {
		return 0, fmt.Errorf("txn: %w", err)
	}
	return res.rev, res.err
}

// Compact implements store.Compactor.
func (s *Store) Compact(ctx context.Context, rev int64) error {
	if rev <= 0 {
		return nil
	}
	res, err := s.submit(&request{ctx: ctx, compact: rev, done: make(chan result, 1)})
	if err == nil {
		err = res.err
	}
	if err != nil {
		return fmt.Errorf("compact to revision %d: %w", rev, err)
	}
	return nil
}

func (s *Store) submit(r *request) (result, error) {
	if err := r.ctx.Err(); err != nil {
		return result{}, err
	}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return result{}, store.ErrClosed
	}
	select {
	case s.reqs <- r:
	case <-r.ctx.Done():
		s.mu.RUnlock()
		return result{}, r.ctx.Err()
	}
	s.mu.RUnlock()
	select {
	case res := <-r.done:
		return res, nil
	case <-r.ctx.Done():
		return result{}, r.ctx.Err() // it may still be applied
	}
}

// commitLoop is the committer: it owns s.rev and s.logCount and is the only
// writer of the bolt file.
func (s *Store) commitLoop() {
	defer close(s.done)
	batch := make([]*request, 0, s.cfg.MaxBatch)
	for {
		select {
		case r := <-s.reqs:
			batch = append(batch[:0], r)
		case <-s.stop:
			s.drain()
			return
		}
		batch = s.fill(batch)
		// The callers of the previous commit were just answered and are
		// likely to be submitting again: yield so that they join this batch
		// instead of waiting out a whole extra commit. While the batch grows,
		// yield again (a few times at most).
		for range 4 {
			n := len(batch)
			runtime.Gosched()
			if batch = s.fill(batch); len(batch) == n {
				break
			}
		}
		s.commit(batch)
		clear(batch)
	}
}

// fill appends queued requests to batch without blocking, up to MaxBatch.
func (s *Store) fill(batch []*request) []*request {
	for len(batch) < s.cfg.MaxBatch {
		select {
		case r := <-s.reqs:
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}

// drain answers every queued request after Close. No request can be queued
// after s.closed is set, so one non-blocking pass is enough.
func (s *Store) drain() {
	for {
		select {
		case r := <-s.reqs:
			r.done <- result{err: store.ErrClosed}
		default:
			return
		}
	}
}

// commit applies a batch in one bolt transaction and answers each request.
func (s *Store) commit(batch []*request) {
	results := make([]result, len(batch))
	rev, logCount := s.rev, s.logCount
	err := s.db.Update(func(tx *bbolt.Tx) error {
		a := applier{kv: tx.Bucket(bucketKV), log: tx.Bucket(bucketLog), meta: tx.Bucket(bucketMeta), rev: rev, logCount: logCount}
		for i, r := range batch {
			if err := r.ctx.Err(); err != nil {
				results[i].err = err
				continue
			}
			var err error
			if r.compact > 0 {
				err = a.compactTo(r.compact)
			} else {
				results[i].rev, err = a.apply(r.txn)
			}
			var ce *store.ConflictError
			if err != nil && !errors.As(err, &ce) && !errors.Is(err, store.ErrInvalid) {
				return err // a bolt failure: abort the whole batch, nothing is half-written
			}
			results[i].err = err
		}
		if err := a.trim(s.cfg.HistoryEvents); err != nil {
			return err
		}
		if a.rev != rev {
			if err := a.meta.Put(metaRev, u64Bytes(a.rev)); err != nil {
				return err
			}
		}
		rev, logCount = a.rev, a.logCount
		return nil
	})
	if err != nil {
		err = fmt.Errorf("commit to %s: %w", s.cfg.Dir, err)
		for _, r := range batch {
			r.done <- result{err: err}
		}
		return
	}
	wrote := rev != s.rev
	s.rev, s.logCount = rev, logCount
	s.commits.Add(1)
	s.txns.Add(int64(len(batch)))
	for i, r := range batch {
		r.done <- results[i]
	}
	if wrote {
		s.feed.Notify()
	}
}

// applier applies requests inside one bolt write transaction.
type applier struct {
	kv, log, meta *bbolt.Bucket
	rev           int64
	logCount      int
}

// apply checks t's conditions and, if they hold, writes its ops at the next
// revision. A conflict leaves the transaction untouched.
func (a *applier) apply(t store.Txn) (int64, error) {
	for _, c := range t.Conds {
		if got := modRevOf(a.kv.Get([]byte(c.Key))); got != c.ModRev {
			return 0, &store.ConflictError{Key: c.Key, Want: c.ModRev, Got: got}
		}
	}
	next := a.rev + 1
	var index uint32
	for _, op := range t.Ops {
		key := []byte(op.Key)
		old := a.kv.Get(key)
		switch {
		case op.Type == store.Put:
			create := next
			if old != nil {
				create = createRevOf(old)
			}
			if err := a.kv.Put(key, encodeKV(create, next, op.Value)); err != nil {
				return 0, err
			}
			if err := a.log.Put(logKey(next, index), encodeEvent(store.Put, create, op.Key, op.Value)); err != nil {
				return 0, err
			}
		case old != nil:
			if err := a.kv.Delete(key); err != nil {
				return 0, err
			}
			if err := a.log.Put(logKey(next, index), encodeEvent(store.Delete, 0, op.Key, nil)); err != nil {
				return 0, err
			}
		default:
			continue // delete of a missing key
		}
		index++
	}
	if index > 0 {
		a.rev = next
		a.logCount += int(index)
	}
	return a.rev, nil
}

// trim keeps the history within limit, with slack so that trimming is
// amortised over many commits.
func (a *applier) trim(limit int) error {
	if a.logCount <= limit+limit/8 {
		return nil
	}
	excess := a.logCount - limit
	c := a.log.Cursor()
	var cut int64
	n := 0
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		if rev := logRev(k); n >= excess && rev != cut {
			break
		} else {
			cut = rev
		}
		n++
	}
	return a.compactTo(cut)
}

// compactTo deletes history up to and including rev.
func (a *applier) compactTo(rev int64) error {
	if rev > a.rev {
		return fmt.Errorf("revision %d is beyond the current revision %d: %w", rev, a.rev, store.ErrInvalid)
	}
	if rev <= u64(a.meta.Get(metaCompact)) {
		return nil
	}
	var keys [][]byte
	c := a.log.Cursor()
	for k, _ := c.First(); k != nil && logRev(k) <= rev; k, _ = c.Next() {
		keys = append(keys, append([]byte(nil), k...))
	}
	for _, k := range keys {
		if err := a.log.Delete(k); err != nil {
			return err
		}
	}
	a.logCount -= len(keys)
	return a.meta.Put(metaCompact, u64Bytes(rev))
}

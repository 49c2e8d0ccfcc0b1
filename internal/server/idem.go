package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/httpapi"
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/store"
)

// Idempotency keys are kept in the store (so that every replica, and a
// restarted server, honours them) for IdempotencyTTL after their submit.
const (
	idemPrefix     = "idem/" // + hex SHA-256 of the token id and the key
	IdempotencyTTL = 24 * time.Hour
	// idemSweepEvery is how often a replica deletes expired keys (on a
	// keyed submit), at most idemSweepMax of them at a time.
	idemSweepEvery = 10 * time.Minute
	idemSweepMax   = 1000
)

// idemRecord is what a key remembers: the job it created and the digest of
// the request that created it.
type idemRecord struct {
	Job     model.JobID `json:"job"`
	Digest  string      `json:"digest"`
	Expires time.Time   `json:"expires"`
}

// idemStoreKey scopes a key to the token that sent it.
func idemStoreKey(p httpapi.Principal, key string) string {
	sum := sha256.Sum256([]byte(p.TokenID + "\x00" + key))
	return idemPrefix + hex.EncodeToString(sum[:])
}

// replay looks the key up. done: the key created a job with the same
// request, returned (idem.Replayed set). Otherwise rev is the mod revision
// a new record must replace: 0 for none, or an expired record's.
func (s *Server) replay(ctx context.Context, p httpapi.Principal, idem *httpapi.Idempotency) (j v1.Job, done bool, rev int64, err error) {
	kv, err := s.s.Get(ctx, idemStoreKey(p, idem.Key))
	if errors.Is(err, store.ErrNotFound) {
		return v1.Job{}, false, 0, nil
	}
	if err != nil {
		return v1.Job{}, false, 0, fmt.Errorf("read idempotency key: %w", err)
	}
	var rec idemRecord
	if err := json.Unmarshal(kv.Value, &rec); err != nil {
		return v1.Job{}, false, 0, fmt.Errorf("decode idempotency key: %w", err)
	}
	if !s.now().Before(rec.Expires) {
		return v1.Job{}, false, kv.ModRev, nil
	}
	if rec.Digest != idem.Digest {
		return v1.Job{}, false, 0, fmt.Errorf("%w: Idempotency-Key %q was used for a different request, which created job %s; send a new key for a new job", httpapi.ErrConflict, idem.Key, rec.Job)
	}
	j, err = s.Job(ctx, string(rec.Job))
	if err != nil {
		return v1.Job{}, false, 0, err
	}
	idem.Replayed = true
	return j, true, 0, nil
}

// idemOps adds the key's record to a submit's mutation, conditioned on
// the revision replay found, so that of two concurrent submits with one
// key only one creates a job.
func (s *Server) idemOps(m *mutation, p httpapi.Principal, idem *httpapi.Idempotency, rev int64, job model.JobID) error {
	b, err := json.Marshal(idemRecord{Job: job, Digest: idem.Digest, Expires: s.now().Add(IdempotencyTTL).UTC()})
	if err != nil {
		return err
	}
	key := idemStoreKey(p, idem.Key)
	m.conds = append(m.conds, store.Cond{Key: key, ModRev: rev})
	m.ops = append(m.ops, store.PutOp(key, b))
	return nil
}

// sweepIdem deletes expired keys, at most once per idemSweepEvery on this
// replica; errors are left for the next sweep.
func (s *Server) sweepIdem(ctx context.Context) {
	now := s.now()
	last := s.idemSwept.Load()
	if now.UnixNano()-last < int64(idemSweepEvery) || !s.idemSwept.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	kvs, _, err := s.s.List(ctx, idemPrefix)
	if err != nil {
		return
	}
	m := &mutation{}
	deleted := 0
	for _, kv := range kvs {
		var rec idemRecord
		if json.Unmarshal(kv.Value, &rec) == nil && now.Before(rec.Expires) {
			continue
		}
		m.conds = append(m.conds, store.Cond{Key: kv.Key, ModRev: kv.ModRev})
		m.ops = append(m.ops, store.DeleteOp(kv.Key))
		if deleted++; len(m.ops) == store.MaxTxnOps/2 || deleted == idemSweepMax {
			_, _ = s.w.apply(ctx, m)
			m = &mutation{}
		}
		if deleted == idemSweepMax {
			return
		}
	}
	if len(m.ops) > 0 {
		_, _ = s.w.apply(ctx, m)
	}
}

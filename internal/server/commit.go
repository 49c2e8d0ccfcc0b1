package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/suanli/suanli/internal/audit"
	"github.com/suanli/suanli/internal/core"
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/store"
)

// change is one job's decided record, encoded.
type change struct {
	id   model.JobID
	rec  *jobRecord
	prev *jobRecord // the record the decision was made on
	stop *core.Stop
	enc  []byte
}

// commit writes decided records in one transaction fenced by the epoch
// and the revisions they were decided on.
func (l *loop) commit(ctx context.Context, chunk []change) (int64, error) {
	m := &mutation{conds: []store.Cond{{Key: epochKey, ModRev: l.epochRev}}}
	for _, ch := range chunk {
		m.conds = append(m.conds, store.Cond{Key: jobKey(ch.id), ModRev: l.revs[ch.id]})
		m.ops = append(m.ops, store.PutOp(jobKey(ch.id), ch.enc))
		if transition(ch) {
			m.audit = append(m.audit, decisionAudit(ch.id, ch.rec, ch.stop))
		}
	}
	return l.s.w.apply(ctx, m)
}

// transition reports whether a decision changes what the audit log last
// said of the job: its state, its reason or its placement, or a stop. A
// job decided again as it was (blocked for the same reason, on every
// leader start and on every wake-up) gets no new entry: the stored record
// it was decided on says what was audited last, across restarts too.
func transition(ch change) bool {
	p, r := ch.prev, ch.rec
	return ch.stop != nil || p == nil || p.State != r.State || p.Reason != r.Reason ||
		(p.Placement == nil) != (r.Placement == nil) || (p.Placement != nil && !samePlacement(p.Placement, r.Placement))
}

// committed takes up records the store now holds at rev.
func (l *loop) committed(chunk []change, rev int64) {
	for _, ch := range chunk {
		l.recs[ch.id], l.revs[ch.id] = ch.rec, rev
		l.s.m.decisions.WithLabelValues(string(ch.rec.State)).Inc()
		if ch.rec.State.Terminal() {
			delete(l.recs, ch.id)
		}
	}
}

// quarantine stores a job the store refused to hold as decided (cause) as
// failed, with the reason, in a record cut down to what fits: the job
// holds up no one, and its owner sees why.
func (l *loop) quarantine(ctx context.Context, ch change, cause error) (int64, error) {
	now := l.s.now().UTC()
	r := *ch.prev
	r.State, r.EndedAt = model.Failed, &now
	r.Reason = fmt.Sprintf("quarantined: the scheduler's record of the job cannot be stored (%v); the job is failed so that it holds up no other job", cause)
	r.Placement, r.PlacedAt, r.Decision, r.Waits, r.Reported, r.Done = nil, nil, nil, nil, "", nil
	for attempt := 0; ; attempt++ {
		b, err := json.Marshal(&r)
		if err != nil {
			return 0, fmt.Errorf("encode job %s: %w", ch.id, err)
		}
		rev, err := l.s.w.apply(ctx, &mutation{
			conds: []store.Cond{{Key: epochKey, ModRev: l.epochRev}, {Key: jobKey(ch.id), ModRev: l.revs[ch.id]}},
			ops:   []store.Op{store.PutOp(jobKey(ch.id), b)},
			audit: []audit.Record{{Actor: "scheduler", Action: "sched.quarantine", Target: string(ch.id), Detail: r.Reason}},
		})
		if errors.Is(err, store.ErrInvalid) && attempt == 0 {
			// Even the job as submitted does not fit now: keep what
			// says what it was, drop what it carried.
			r.Workload, r.Spans, r.OutputTail = nil, nil, ""
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("quarantine job %s: %w", ch.id, err)
		}
		l.recs[ch.id], l.revs[ch.id] = &r, rev
		l.s.m.decisions.WithLabelValues("quarantined").Inc()
		l.s.log.Warn("job quarantined: its record cannot be stored", "job", ch.id, "err", cause)
		return rev, nil
	}
}

// saveWorkload stores the learned task mix when it has changed (once a
// batch of arrivals), under the leader's epoch, so that a new leader
// starts from it.
func (l *loop) saveWorkload(ctx context.Context) error {
	st, v, ok := l.c.Workload()
	if !ok || v == l.mixVersion {
		return nil
	}
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	_, err = l.s.w.apply(ctx, &mutation{
		conds: []store.Cond{{Key: epochKey, ModRev: l.epochRev}},
		ops:   []store.Op{store.PutOp(workloadKey, b)},
	})
	var ce *store.ConflictError
	if errors.As(err, &ce) && ce.Key == epochKey {
		return fmt.Errorf("another replica took over scheduling: %w", err)
	}
	if err != nil {
		return fmt.Errorf("store task mix: %w", err)
	}
	l.mixVersion = v
	return nil
}

package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/suanli/suanli/internal/core"
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/sched"
	"github.com/suanli/suanli/internal/store"
)

// flush commits what the core decided, in transactions guarded by the
// revisions of the records it decided on and by the leader's epoch.
func (l *loop) flush(ctx context.Context) error {
	if !l.c.HasReady() {
		return nil
	}
	start := time.Now()
	rd := l.c.Ready()
	now := l.s.now().UTC()
	changes, err := l.changesOf(rd, now)
	if err != nil {
		return err
	}
	var quarantined []model.JobID
	done := map[model.JobID]bool{} // the jobs of this Ready the store holds
	for _, chunk := range chunks(changes) {
		rev, err := l.commit(ctx, chunk)
		if errors.Is(err, store.ErrInvalid) {
			// The store refuses a record of the chunk (too large).
			err = l.commitEach(ctx, chunk, done, &quarantined)
			if err == nil {
				continue
			}
		}
		var ce *store.ConflictError
		switch {
		case err == nil:
			l.committed(chunk, rev)
			for _, ch := range chunk {
				done[ch.id] = true
			}
			l.s.m.commits.WithLabelValues("ok").Inc()
		case errors.As(err, &ce) && ce.Key == epochKey:
			l.s.m.commits.WithLabelValues("conflict").Inc()
			return fmt.Errorf("another replica took over scheduling: %w", err)
		case errors.As(err, &ce):
			// Another writer changed a job of this chunk (an agent's
			// report, a cancel): the chunks before it are in the store,
			// whole groups each (see chunks). Take them up, learn what
			// changed, and let the core decide the rest again.
			l.s.m.commits.WithLabelValues("conflict").Inc()
			l.advance(rd, changes, done, quarantined, now)
			if err := l.refresh(ctx, ce.Key); err != nil {
				return err
			}
			return l.c.Step(core.CommitFailed{At: now.Unix()})
		default:
			// The store did not answer (the write may or may not be
			// applied): start over from a fresh snapshot (the replica
			// steps down and campaigns again).
			l.s.m.commits.WithLabelValues("error").Inc()
			return fmt.Errorf("commit decisions: %w", err)
		}
	}
	l.advance(rd, changes, done, quarantined, now)
	l.s.m.latency.Observe(time.Since(start).Seconds())
	if now := time.Now(); now.Sub(l.queueAt) >= 250*time.Millisecond {
		// Counting walks every live job: a gauge need not be fresher.
		l.queueAt = now
		l.s.m.queue.Set(float64(l.queued()))
	}
	return nil
}

// changesOf turns a Ready into the job records to write: each job's new
// placement, state, reason and decision; records the store already holds
// as decided are left out.
func (l *loop) changesOf(rd core.Ready, now time.Time) ([]change, error) {
	stops := map[model.JobID]*core.Stop{}
	for i := range rd.Stops {
		stops[rd.Stops[i].Job] = &rd.Stops[i]
	}
	var changes []change
	for _, js := range rd.Jobs {
		old := l.recs[js.Job]
		if old == nil {
			continue
		}
		r := *old
		if r.Placement != nil && (js.Placement == nil || !samePlacement(r.Placement, js.Placement)) {
			if r.PlacedAt != nil {
				r.Spans = append(r.Spans, spanOf(l.s.net, r.Placement, *r.PlacedAt, now))
			}
			r.Placement, r.PlacedAt = nil, nil
		}
		if js.Placement != nil && r.Placement == nil {
			p := *js.Placement
			r.Placement, r.PlacedAt = &p, &now
			// A new placement: what agents reported was about the old one.
			r.Reported, r.Done = "", nil
		}
		if r.State != model.Cancelled {
			r.State = js.State
		}
		r.Position, r.Attained = js.Position, js.Attained
		// A job's end keeps the reason its agents or its canceller gave
		// (worker, exit code; "cancelled by"): the core has none of its own.
		if !r.State.Terminal() || r.Reason == "" {
			r.Reason = js.Reason
		}
		r.Waits = js.Waits
		r.Decision = nil
		if d := js.Decision; d != nil {
			// What the API shows (the explanation, the score and the
			// runner-ups), not the placement again: less JSON per write. It
			// names this job (the core shares one decision among jobs of a
			// shape), so that deciding again writes the same record.
			r.Decision, _ = json.Marshal(sched.Decision{Job: js.Job, Score: d.Score, Explanation: d.Explanation, Alternatives: d.Alternatives})
		}
		if r.State.Terminal() && r.EndedAt == nil {
			r.EndedAt = &now
		}
		b, err := json.Marshal(&r)
		if err != nil {
			return nil, fmt.Errorf("encode job %s: %w", js.Job, err)
		}
		if stops[js.Job] == nil {
			// Decided again as the store holds it (a queued job on a
			// leader start): nothing to write.
			if ob, err := json.Marshal(old); err == nil && bytes.Equal(ob, b) {
				if r.State.Terminal() {
					delete(l.recs, js.Job)
				}
				continue
			}
		}
		changes = append(changes, change{id: js.Job, rec: &r, stop: stops[js.Job], enc: b, prev: old})
	}
	return changes, nil
}

// commitEach commits each job of a chunk the store refused alone and
// quarantines the ones it still refuses, so that one job never holds up
// the others.
func (l *loop) commitEach(ctx context.Context, chunk []change, done map[model.JobID]bool, quarantined *[]model.JobID) error {
	for _, ch := range chunk {
		rev, e := l.commit(ctx, []change{ch})
		if errors.Is(e, store.ErrInvalid) {
			rev, e = l.quarantine(ctx, ch, e)
			if e == nil {
				*quarantined = append(*quarantined, ch.id)
				done[ch.id] = true
				continue
			}
		}
		if e != nil {
			return e
		}
		l.committed([]change{ch}, rev)
		done[ch.id] = true
	}
	return nil
}

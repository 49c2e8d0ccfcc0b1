package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/audit"
	"github.com/suanli/suanli/internal/httpapi"
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/store"
)

// Submit implements httpapi.Jobs: the reply is sent once the job is
// durable.
func (s *Server) Submit(ctx context.Context, p httpapi.Principal, spec model.Job, wl *v1.Workload) (v1.Job, error) {
	if err := s.admit(ctx, &spec); err != nil {
		return v1.Job{}, err
	}
	idem := httpapi.IdempotencyFrom(ctx)
	var idemRev int64
	if idem != nil {
		s.sweepIdem(ctx)
		j, done, rev, err := s.replay(ctx, p, idem)
		if done || err != nil {
			return j, err
		}
		idemRev = rev
	}
	if err := s.checkSecretRefs(ctx, string(spec.Tenant), wl); err != nil {
		return v1.Job{}, err
	}
	now := s.now().UTC()
	spec.ID = newJobID(now)
	spec.SubmitTime = now.Unix()
	if err := s.fits(ctx, &spec); err != nil {
		return v1.Job{}, err
	}
	rec := &jobRecord{Spec: spec, State: model.Pending, SubmittedAt: now, Workload: wl}
	b, err := json.Marshal(rec)
	if err != nil {
		return v1.Job{}, fmt.Errorf("encode job %s: %w", spec.ID, err)
	}
	if err := s.boundRecord(rec, len(b)); err != nil {
		return v1.Job{}, err
	}
	m := &mutation{
		conds: []store.Cond{{Key: jobKey(spec.ID), ModRev: 0}},
		ops:   []store.Op{store.PutOp(jobKey(spec.ID), b)},
		audit: []audit.Record{{Actor: p.Actor(), Action: "job.submit", Target: string(spec.ID), Detail: submitDetail(spec, wl)}},
	}
	if idem != nil {
		if err := s.idemOps(m, p, idem, idemRev, spec.ID); err != nil {
			return v1.Job{}, err
		}
	}
	rev, err := s.w.apply(ctx, m)
	if idem != nil && errors.Is(err, store.ErrConflict) {
		// A concurrent submit with the same key won: answer with its job.
		if j, done, _, rerr := s.replay(ctx, p, idem); done || rerr != nil {
			return j, rerr
		}
	}
	if err != nil {
		return v1.Job{}, fmt.Errorf("store job %s: %w", spec.ID, err)
	}
	s.m.submits.Inc()
	return rec.wire(s.net, rev), nil
}

// loadJob reads a job record and its mod revision.
func (s *Server) loadJob(ctx context.Context, id string) (*jobRecord, int64, error) {
	if !strings.HasPrefix(id, "j-") || len(id) > 64 {
		return nil, 0, fmt.Errorf("job %q: %w", id, httpapi.ErrNotFound)
	}
	kv, err := s.s.Get(ctx, jobKey(model.JobID(id)))
	if errors.Is(err, store.ErrNotFound) {
		return nil, 0, fmt.Errorf("job %q: %w", id, httpapi.ErrNotFound)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read job %s: %w", id, err)
	}
	r, err := decodeJob(kv.Value)
	return r, kv.ModRev, err
}

// Job implements httpapi.Jobs.
func (s *Server) Job(ctx context.Context, id string) (v1.Job, error) {
	r, rev, err := s.loadJob(ctx, id)
	if err != nil {
		return v1.Job{}, err
	}
	return r.wire(s.net, rev), nil
}

// Explain implements httpapi.Jobs.
func (s *Server) Explain(ctx context.Context, id string) (v1.Explanation, error) {
	r, _, err := s.loadJob(ctx, id)
	if err != nil {
		return v1.Explanation{}, err
	}
	return r.explain(), nil
}

// Jobs implements httpapi.Jobs.
func (s *Server) Jobs(ctx context.Context, q httpapi.JobQuery) (v1.JobList, error) {
	kvs, _, err := s.s.List(ctx, jobPrefix)
	if err != nil {
		return v1.JobList{}, fmt.Errorf("list jobs: %w", err)
	}
	var out v1.JobList
	after := jobPrefix + q.After
	for _, kv := range kvs {
		if q.After != "" && kv.Key <= after {
			continue
		}
		r, err := decodeJob(kv.Value)
		if err != nil {
			return v1.JobList{}, fmt.Errorf("%s: %w", kv.Key, err)
		}
		if (q.Tenant != "" && string(r.Spec.Tenant) != q.Tenant) || (q.State != "" && string(r.State) != q.State) {
			continue
		}
		if len(out.Jobs) == q.Limit {
			out.Next = out.Jobs[len(out.Jobs)-1].ID
			break
		}
		j := r.wire(s.net, kv.ModRev)
		j.OutputTail = "" // GET /v1/jobs/{id} only: a page stays small
		out.Jobs = append(out.Jobs, j)
	}
	return out, nil
}

// update rewrites a job record with f under a revision check, retrying
// when something else wrote the job meanwhile.
func (s *Server) update(ctx context.Context, p httpapi.Principal, id, action string, f func(r *jobRecord) (bool, error)) (v1.Job, error) {
	for range 20 {
		r, rev, err := s.loadJob(ctx, id)
		if err != nil {
			return v1.Job{}, err
		}
		changed, err := f(r)
		if err != nil || !changed {
			return r.wire(s.net, rev), err
		}
		b, err := json.Marshal(r)
		if err != nil {
			return v1.Job{}, err
		}
		key := jobKey(model.JobID(id))
		nrev, err := s.w.apply(ctx, &mutation{
			conds: []store.Cond{{Key: key, ModRev: rev}},
			ops:   []store.Op{store.PutOp(key, b)},
			audit: []audit.Record{{Actor: p.Actor(), Action: action, Target: id, Detail: string(r.State)}},
		})
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return v1.Job{}, fmt.Errorf("%s %s: %w", action, id, err)
		}
		return r.wire(s.net, nrev), nil
	}
	return v1.Job{}, fmt.Errorf("%s %s: %w: the job keeps changing", action, id, httpapi.ErrConflict)
}

// Cancel implements httpapi.Jobs. Cancelling a finished job changes
// nothing; the scheduler frees a placed job's cards when it sees the
// change.
func (s *Server) Cancel(ctx context.Context, p httpapi.Principal, id string) (v1.Job, error) {
	return s.update(ctx, p, id, "job.cancel", func(r *jobRecord) (bool, error) {
		if r.State.Terminal() {
			return false, nil
		}
		now := s.now().UTC()
		r.State, r.Reason, r.EndedAt = model.Cancelled, "cancelled by "+p.Role, &now
		return true, nil
	})
}

// Report implements httpapi.Jobs: an agent's report on a placed job.
func (s *Server) Report(ctx context.Context, p httpapi.Principal, id string, rep v1.StatusReport) (v1.Job, error) {
	return s.update(ctx, p, id, "job.report", func(r *jobRecord) (bool, error) {
		if err := s.actsForJob(p, r); err != nil {
			return false, err
		}
		if r.State != model.Placed && r.State != model.Running {
			return false, fmt.Errorf("job %s is %s, not placed or running: %w", id, r.State, httpapi.ErrConflict)
		}
		r.Reported = model.JobState(rep.State)
		if rep.Reason != "" {
			r.Reason = rep.Reason
		}
		return true, nil
	})
}

// actsForJob checks that p acts for a node the job is placed on: an
// agent reports only on its own nodes' jobs.
func (s *Server) actsForJob(p httpapi.Principal, r *jobRecord) error {
	if p.Role != v1.RoleAgent {
		return nil
	}
	if r.Placement != nil {
		for _, a := range r.Placement.Assignments {
			if s.actsFor(p, string(a.Node)) == nil {
				return nil
			}
		}
	}
	return fmt.Errorf("%w: job %s is not placed on a node this credential acts for", httpapi.ErrForbidden, r.Spec.ID)
}

// Assignments implements httpapi.Jobs: the live jobs placed on the node,
// from the replica's job index.
func (s *Server) Assignments(ctx context.Context, p httpapi.Principal, node string) ([]v1.Job, error) {
	if err := s.actsFor(p, node); err != nil {
		return nil, err
	}
	if _, ok := s.net.Node(model.NodeID(node)); !ok {
		return nil, fmt.Errorf("node %q: %w", node, httpapi.ErrNotFound)
	}
	if err := s.v.wait(ctx); err != nil {
		return nil, fmt.Errorf("%w: %v", httpapi.ErrUnavailable, err)
	}
	js := s.v.onNode(model.NodeID(node))
	out := make([]v1.Job, 0, len(js))
	secrets := receivesSecrets(p, node)
	for _, j := range js {
		w := j.rec.wire(s.net, j.rev)
		if secrets {
			w = s.withSecrets(ctx, w)
		}
		out = append(out, w)
	}
	return out, nil
}

// Events implements httpapi.Jobs: job changes after revision from (-1:
// from now).
func (s *Server) Events(ctx context.Context, from int64) (<-chan v1.Event, error) {
	if from < 0 {
		_, rev, err := s.s.List(ctx, epochKey)
		if err != nil {
			return nil, err
		}
		from = rev
	}
	ch, err := s.s.Watch(ctx, jobPrefix, from)
	if err != nil {
		if errors.Is(err, store.ErrCompacted) {
			return nil, fmt.Errorf("%w: revision %d is compacted; reconnect without Last-Event-ID", httpapi.ErrInvalid, from)
		}
		return nil, err
	}
	out := make(chan v1.Event, 64)
	go func() {
		defer close(out)
		for ev := range ch {
			if ev.Type != store.Put {
				continue
			}
			r, err := decodeJob(ev.KV.Value)
			if err != nil {
				continue
			}
			j := r.wire(s.net, ev.Rev)
			select {
			case out <- v1.Event{Revision: ev.Rev, Type: "job", Job: &j}:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

// jobsSorted returns every job record in id order, with the mod
// revisions and the store revision of the snapshot.
func (s *Server) jobsSorted(ctx context.Context) ([]*jobRecord, []int64, int64, error) {
	kvs, rev, err := s.s.List(ctx, jobPrefix)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("list jobs: %w", err)
	}
	recs := make([]*jobRecord, 0, len(kvs))
	revs := make([]int64, 0, len(kvs))
	for _, kv := range kvs {
		r, err := decodeJob(kv.Value)
		if err != nil {
			return nil, nil, 0, fmt.Errorf("%s: %w", kv.Key, err)
		}
		recs = append(recs, r)
		revs = append(revs, kv.ModRev)
	}
	return recs, revs, rev, nil
}

// submitDetail is a submit's audit detail: the job's shape and the names
// of its workload's variables, never their values.
func submitDetail(spec model.Job, wl *v1.Workload) string {
	d := fmt.Sprintf("tenant=%s kind=%s workers=%d", spec.Tenant, spec.Kind, spec.Workers)
	if wl == nil {
		return d
	}
	if len(wl.Env) > 0 {
		d += " env=" + strings.Join(slices.Sorted(maps.Keys(wl.Env)), ",")
	}
	if len(wl.SecretEnv) > 0 {
		refs := make([]string, len(wl.SecretEnv))
		for i, e := range wl.SecretEnv {
			refs[i] = e.Name + "=" + e.Secret.Name + "/" + e.Secret.Key
		}
		d += " secret_env=" + strings.Join(refs, ",")
	}
	return d
}

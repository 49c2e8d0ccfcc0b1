package kube

import (
	"context"
	"slices"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/model"
)

// follow reports, from the informer's pods, the state of the stale
// placements: the retry path of reports that did not go through, and the
// first report of pods that existed before the bridge.
func (b *Bridge) follow(ctx context.Context) {
	ids := make([]model.JobID, 0, len(b.placed))
	for id, t := range b.placed {
		if t.stale && t.dispatched && !t.reported.Terminal() {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		if st, ok := b.site.JobStatus(id); ok {
			b.placed[id].stale = false
			b.report(ctx, st)
		}
	}
}

// report turns a placement's pod state into worker reports.
func (b *Bridge) report(ctx context.Context, st JobStatus) {
	t := b.placed[st.Job]
	if t == nil || st.Placement != t.key || t.reported.Terminal() {
		return
	}
	job := string(st.Job)
	sent := func(r v1.WorkerReport) bool {
		ok := b.send(ctx, job, r)
		t.stale = t.stale || !ok
		return ok
	}
	base := func(a model.Assignment, state string) v1.WorkerReport {
		return v1.WorkerReport{Node: string(a.Node), Worker: a.Worker, PlacedAt: t.placedAt, State: state, At: time.Now().UTC()}
	}
	switch st.State {
	case model.Running:
		if t.reported == model.Running {
			return
		}
		ok := true
		for _, a := range t.assign {
			ok = sent(base(a, v1.StateRunning)) && ok
		}
		if ok {
			t.reported = model.Running
		}
	case model.Completed:
		for _, a := range t.assign {
			if !t.done[a.Worker] && sent(base(a, v1.StateCompleted)) {
				t.done[a.Worker] = true
			}
		}
		if len(t.done) == len(t.assign) {
			t.reported = model.Completed
		}
	case model.Failed, model.Preempted:
		if st.Requeue {
			for _, a := range t.assign {
				if b.notReady[a.Node] {
					return // the node's loss requeues the job
				}
			}
		}
		a := t.assign[0]
		for _, w := range t.assign {
			if w.Worker == st.Worker {
				a = w
			}
		}
		r := base(a, v1.StateFailed)
		r.Reason = st.Reason
		if st.Requeue {
			// Evicted or preempted on a Ready node: the site's doing, not
			// the job's, so the server requeues it and uses no retry.
			r.Reason, r.Requeue = "evicted by Kubernetes: "+st.Reason, true
		}
		if sent(r) {
			t.reported = model.Failed
		}
	}
}

// send sends one worker report; true when the server took it or refused
// it for good (the job ended or was placed again).
func (b *Bridge) send(ctx context.Context, job string, r v1.WorkerReport) bool {
	cctx, cancel := context.WithTimeout(ctx, b.lease.Period)
	defer cancel()
	_, err := b.cfg.Server.ReportWorker(cctx, job, r)
	switch {
	case err == nil:
		b.count(func(s *BridgeStatus) { s.Reports++ })
		return true
	case refused(err):
		b.log.Warn("the server refused a worker report; dropping it", "job", job, "worker", r.Worker, "state", r.State, "err", err)
		return true
	default:
		b.log.Warn("worker report failed; will retry", "job", job, "worker", r.Worker, "err", err)
		return false
	}
}

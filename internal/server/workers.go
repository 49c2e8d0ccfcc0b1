package server

import (
	"context"
	"fmt"
	"slices"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/httpapi"
	"github.com/suanli/suanli/internal/model"
)

// ReportWorker implements httpapi.Nodes: an agent's report on one worker
// of a placed job. A report about an earlier placement (PlacedAt differs)
// is stale: 409. Running marks the job running; a checkpoint is kept (the
// job resumes from it when requeued); the job completes when every worker
// of its placement has, and fails when one fails; stopped (the agent
// stopped a worker no longer assigned) changes nothing.
func (s *Server) ReportWorker(ctx context.Context, p httpapi.Principal, id string, rep v1.WorkerReport) (v1.Job, error) {
	if err := s.actsFor(p, rep.Node); err != nil {
		return v1.Job{}, err
	}
	j, err := s.reportWorker(ctx, p, id, rep)
	if err != nil || rep.Progress == nil {
		return j, err
	}
	if err := s.learnProgress(ctx, id, rep); err != nil {
		return v1.Job{}, err
	}
	return s.Job(ctx, id)
}

func (s *Server) reportWorker(ctx context.Context, p httpapi.Principal, id string, rep v1.WorkerReport) (v1.Job, error) {
	return s.update(ctx, p, id, "job.worker."+rep.State, func(r *jobRecord) (bool, error) {
		if r.Placement == nil || (r.State != model.Placed && r.State != model.Running) {
			return false, fmt.Errorf("job %s is %s, not placed or running; the report is stale: %w", id, r.State, httpapi.ErrConflict)
		}
		if rep.PlacedAt != nil && (r.PlacedAt == nil || !rep.PlacedAt.Equal(*r.PlacedAt)) {
			return false, fmt.Errorf("job %s was placed again since (placed_at %s); the report is about an earlier placement: %w", id, r.PlacedAt, httpapi.ErrConflict)
		}
		on := false
		for _, a := range r.Placement.Assignments {
			if a.Worker == rep.Worker && string(a.Node) == rep.Node {
				on = true
			}
		}
		if !on {
			return false, fmt.Errorf("job %s has no worker %d on node %s: %w", id, rep.Worker, rep.Node, httpapi.ErrConflict)
		}
		changed := false
		if c := rep.Checkpoint; c != nil && c.Step > r.Checkpoint {
			r.Checkpoint, changed = c.Step, true
			at := c.At.Unix()
			if c.At.IsZero() {
				at = s.now().Unix()
			}
			r.Spec.CheckpointTime = max(r.Spec.CheckpointTime, at)
		}
		if r.Reported == model.Completed || r.Reported == model.Failed || r.Reported == reportedRetry || r.Reported == reportedRequeue {
			return changed, nil // the job's end is recorded already
		}
		switch rep.State {
		case v1.StateRunning:
			if r.Reported != model.Running {
				r.Reported, changed = model.Running, true
			}
			if rep.Overuse != "" {
				o := fmt.Sprintf("worker %d on %s: %s", rep.Worker, rep.Node, rep.Overuse)
				if len(o) > 1024 {
					o = o[:1024]
				}
				if o != r.Overuse {
					r.Overuse, changed = o, true
				}
			}
		case v1.StateCompleted:
			if !slices.Contains(r.Done, rep.Worker) {
				r.Done = append(r.Done, rep.Worker)
				slices.Sort(r.Done)
				changed = true
			}
			if len(r.Done) == len(r.Placement.Assignments) {
				r.Reported = model.Completed
			} else if r.Reported == "" {
				r.Reported = model.Running
			}
		case v1.StateFailed:
			s.workerFailed(r, rep)
			changed = true
		}
		return changed, nil
	})
}

// workerFailed records a failed worker on its job: a site's eviction
// (Requeue) requeues the job without using a retry; a failure the job's
// retry policy answers requeues it after the policy's pause; any other
// fails the job, with the retries used in its reason.
func (s *Server) workerFailed(r *jobRecord, rep v1.WorkerReport) {
	reason := fmt.Sprintf("worker %d on %s failed", rep.Worker, rep.Node)
	if rep.ExitCode != nil {
		reason += fmt.Sprintf(": exit code %d", *rep.ExitCode)
	}
	if rep.Signal != "" {
		reason += ", signal " + rep.Signal
	}
	if rep.Reason != "" {
		reason += ": " + rep.Reason
	}
	r.OutputTail = rep.OutputTail
	if rep.Requeue { // its site's doing, not the job's: no retry used
		r.Reported, r.Reason = reportedRequeue, reason
		return
	}
	if n := len(r.Retries); n < r.Spec.MaxRetries && retryable(&r.Spec, rep) {
		now := s.now().UTC()
		r.Retries = append(r.Retries, v1.Retry{At: now, Worker: rep.Worker, Node: rep.Node, Reason: reason,
			NotBefore: now.Add(time.Duration(retryPause(r.Spec.RetryBackoffSec, n)) * time.Second)})
		r.Reported = reportedRetry
		return
	}
	r.Reported, r.Reason = model.Failed, reason
	if n := len(r.Retries); n > 0 {
		r.Reason += fmt.Sprintf(" (retries used: %d of %d; the job's retries list each failure)", n, r.Spec.MaxRetries)
	}
}

// retryable reports whether a worker failure counts for the job's retry
// policy: every failure when it names no exit codes, else an exit with
// one of them (a worker killed by a signal does not count).
func retryable(j *model.Job, rep v1.WorkerReport) bool {
	if len(j.RetryExitCodes) == 0 {
		return true
	}
	return rep.ExitCode != nil && rep.Signal == "" && slices.Contains(j.RetryExitCodes, *rep.ExitCode)
}

// retryPause is the pause before retry n+1 (n retries before it): the
// first pause, doubled n times, at most model.MaxRetryBackoffSec.
func retryPause(first int64, n int) int64 {
	p := first
	for range n {
		if p >= model.MaxRetryBackoffSec {
			break
		}
		p *= 2
	}
	return min(p, model.MaxRetryBackoffSec)
}

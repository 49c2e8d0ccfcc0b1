package core

import (
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/sched"
)

// Why a placement is stopped. The values are API.
const (
	StopPreempted = "preempted"     // a higher-priority job needs the cards; requeued
	StopNodeLost  = "node-lost"     // a node of the placement was lost; requeued whole
	StopEvicted   = "policy-denied" // the policy no longer allows the placement; requeued
	StopCancelled = "cancelled"     // the user cancelled the job
	StopMigrated  = "migrated"      // moved to where it runs faster; requeued at its position
	StopRetried   = "retried"       // a worker failed; requeued under the job's retry policy
	StopRequeued  = "site-evicted"  // the site evicted a worker (not the job's fault); requeued, no retry used
)

// Ready is what the core decided since the last Advance: what the shell must
// persist (in one store transaction, checked against the revisions it read)
// and tell the agents. Apply Stops before Placements: a requeued job may be
// stopped and placed again in the same Ready.
type Ready struct {
	// Placements are new placements to commit and start, in decision order.
	Placements []model.Placement
	// Stops are committed placements to stop: preemption victims, gangs on
	// lost nodes, policy evictions and cancellations. A placement decided
	// and undone before it was committed shows in neither list.
	Stops []Stop
	// Jobs is the current record of every job that changed, in the order it
	// first changed; the shell writes each over the stored one.
	Jobs []JobStatus

	versions []uint64 // of each job in Jobs, for Advance
}

// Stop is a committed placement to stop.
type Stop struct {
	Job       model.JobID     `json:"job"`
	Reason    string          `json:"reason"`       // StopPreempted, StopNodeLost, StopEvicted, StopCancelled
	By        model.JobID     `json:"by,omitempty"` // the preempting job
	Placement model.Placement `json:"placement"`
	// Detail says more: for StopMigrated, the rates and the gain.
	Detail string `json:"detail,omitempty"`
}

// JobStatus is the core's record of one job.
type JobStatus struct {
	Job    model.JobID    `json:"job"`
	Tenant model.TenantID `json:"tenant"`
	State  model.JobState `json:"state"`
	// Reason says why the job is in its state: a scheduler rejection code
	// (insufficient-cards …), a core one (quota-exceeded, reserved), a stop
	// reason (preempted, node-lost …) or empty.
	Reason string `json:"reason,omitempty"`
	Since  int64  `json:"since"`
	// Position is the job's place in its priority class: submission order,
	// kept when the job is requeued.
	Position  uint64           `json:"position"`
	Placement *model.Placement `json:"placement,omitempty"`
	// ResumeFrom is the checkpoint a requeued job restarts from (0: the
	// start).
	ResumeFrom int64 `json:"resume_from,omitempty"`
	// Waits lists the capacity classes a blocked job waits for (model:…,
	// quota:…, reservation:…, policy); it wakes when one of them frees.
	Waits []string `json:"waits,omitempty"`
	// Decision is the scheduler's last word on the job: the explanation of
	// a blocked job, the alternatives of a placed one.
	Decision *sched.Decision `json:"decision,omitempty"`
	// ReservedFrom is the expected start of a blocked head-of-line gang's
	// reservation (-1: unknown; 0: no reservation).
	ReservedFrom int64 `json:"reserved_from,omitempty"`
	// Attained is the service its earlier placements gave it (Config.Service:
	// card-seconds at its best rate), kept so that a new leader queues it
	// at its level (JobRestored.Attained).
	Attained float64 `json:"attained,omitempty"`
}

// Only returns the part of rd about the jobs keep selects. A shell that
// commits a Ready in several transactions, one of which fails, steps
// Advance(rd.Only(committed)) for what the store now holds and then
// CommitFailed, which undoes the rest.
func (rd Ready) Only(keep func(model.JobID) bool) Ready {
	var out Ready
	aligned := len(rd.versions) == len(rd.Jobs)
	for i, st := range rd.Jobs {
		if keep(st.Job) {
			out.Jobs = append(out.Jobs, st)
			if aligned {
				out.versions = append(out.versions, rd.versions[i])
			}
		}
	}
	for _, p := range rd.Placements {
		if keep(p.Job) {
			out.Placements = append(out.Placements, p)
		}
	}
	for _, s := range rd.Stops {
		if keep(s.Job) {
			out.Stops = append(out.Stops, s)
		}
	}
	return out
}

package core

import (
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/sched"
)

// Event is one input to Step. Every event carries At, the time of the event
// in seconds on the caller's clock (virtual time in the simulator); the core
// never reads a clock, and its notion of now only moves forward.
type Event interface {
	time() int64
}

// JobSubmitted queues a new job. A job id that is already known is ignored
// (the shell may replay its log).
type JobSubmitted struct {
	At  int64
	Job model.Job
}

// JobRestored re-creates a job from the store when a shell starts (or a
// new leader takes over): a placed job with its committed Placement (held
// again, not decided again, and not sent back in Ready), a queued one at
// its stored Position. Restoring decides nothing: queued jobs are tried at
// the next other event (a Tick will do), once every placed job is held.
type JobRestored struct {
	At        int64
	Job       model.Job
	State     model.JobState   // placed or running with a Placement; else queued
	Placement *model.Placement // nil for a queued job
	Position  uint64           // the stored JobStatus.Position (0: a new one)
	// NotBefore (Unix seconds) holds a queued job out of the queue until
	// then: the pause of a retried job, which a new leader keeps.
	NotBefore int64
	// Attained is the stored JobStatus.Attained: with Config.Service a
	// queued job waits at its level, not at level 0.
	Attained float64
}

// JobCancelled ends a job at the user's request; a placed job is stopped.
type JobCancelled struct {
	At  int64
	Job model.JobID
}

// JobStarted records that the agents started a placed job.
type JobStarted struct {
	At  int64
	Job model.JobID
}

// JobFinished records that a job's workload exited (Failed says how); its
// cards are free again.
type JobFinished struct {
	At     int64
	Job    model.JobID
	Failed bool
}

// JobRetried stops a placed job one of whose workers failed, under its
// retry policy, and requeues it whole to resume from its checkpoint; it is
// not tried before NotBefore (the policy's backoff), nor before the next
// second, so that the stop and the new placement come in two Readys. The
// shell counts the retries and decides which failures count.
type JobRetried struct {
	At        int64
	Job       model.JobID
	NotBefore int64
	// Reason is the stop's reason: StopRetried (the default) or
	// StopRequeued, a worker its site evicted.
	Reason string
}

// Checkpointed records that a running job saved a checkpoint at Time: a
// requeued job resumes from its latest checkpoint, and preemption prefers
// victims that lose the least work.
type Checkpointed struct {
	At   int64
	Job  model.JobID
	Time int64
}

// NodeRegistered records that a node's agent joined: the node takes work.
type NodeRegistered struct {
	At   int64
	Node model.NodeID
}

// NodeLost records that a node stopped answering (its lease lapsed): every
// job with a worker on it is stopped whole and requeued from its last
// checkpoint.
type NodeLost struct {
	At   int64
	Node model.NodeID
}

// NodeDisconnected records that a node stopped answering but its work is
// held for it (a partition, perhaps): the node takes no new work, and the
// jobs placed on it stay placed, holding their cards, until NodeLost
// requeues them or NodeHealthy brings the node back.
type NodeDisconnected struct {
	At   int64
	Node model.NodeID
}

// JobLost requeues a placed job, whole, from its last checkpoint, if a
// node of its placement is down (disconnected for longer than the job's
// own lost_after); otherwise it changes nothing.
type JobLost struct {
	At  int64
	Job model.JobID
}

// NodeHealthy records that a lost node is back.
type NodeHealthy struct {
	At   int64
	Node model.NodeID
}

// Tick moves time forward; the core refreshes reservations whose expected
// start has passed.
type Tick struct {
	At int64
}

// TenantUpserted adds a tenant or replaces its quota, weight and caps.
type TenantUpserted struct {
	At     int64
	Tenant model.Tenant
}

// PolicyChanged installs a new policy filter (nil allows everything).
// Placed jobs the new policy no longer allows are evicted and requeued;
// blocked jobs are retried.
type PolicyChanged struct {
	At     int64
	Policy sched.Policy
}

// CommitFailed reports that the store refused the last Ready (its revision
// check lost). The core undoes every decision not yet advanced — new
// placements, preemptions and evictions — and decides again from its
// current state. Step first whatever events describe what the store now
// holds that the core does not (a job cancelled meanwhile, say).
type CommitFailed struct {
	At int64
}

func (e JobSubmitted) time() int64     { return e.At }
func (e JobRestored) time() int64      { return e.At }
func (e JobCancelled) time() int64     { return e.At }
func (e JobStarted) time() int64       { return e.At }
func (e JobFinished) time() int64      { return e.At }
func (e Checkpointed) time() int64     { return e.At }
func (e JobRetried) time() int64       { return e.At }
func (e NodeRegistered) time() int64   { return e.At }
func (e NodeLost) time() int64         { return e.At }
func (e NodeHealthy) time() int64      { return e.At }
func (e NodeDisconnected) time() int64 { return e.At }
func (e JobLost) time() int64          { return e.At }
func (e Tick) time() int64             { return e.At }
func (e TenantUpserted) time() int64   { return e.At }
func (e PolicyChanged) time() int64    { return e.At }
func (e CommitFailed) time() int64     { return e.At }

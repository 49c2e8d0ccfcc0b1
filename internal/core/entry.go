package core

import "github.com/suanli/suanli/internal/model"

// entry is the core's state for one job.
type entry struct {
	job      model.Job
	st       JobStatus
	placedAt int64
	placedIx int      // 1 + its index in Core.placed[priority]; 0 when not there
	ordSlot  int32    // 1 + its slot in Core.order while placed; 0: none
	classes  []string // model classes the job can use ("model:*" for any)
	anyModel bool     // classes is "model:*"
	models   []uint64 // the models of classes, as a set of modelIdx numbers
	byGFLOPS bool     // a compute request: demand is counted in GFLOPS
	shapeKey string   // see shape
	ownRates bool     // the job gave its own Rates (else its class's, if any)
	// ownRatesShape: ownRates under EffectiveShare (see shape).
	ownRatesShape bool
	// firstPlaced is when the job was first placed (0: never); moves
	// counts its migrations; moveNote says why it last moved, for its
	// next decision.
	firstPlaced int64
	moves       int
	moveNote    string
	// attained is the service of its earlier placements, level its queue
	// level while it waits, queuedAt when it last entered the queue,
	// yieldNote why it last yielded (service.go).
	attained  float64
	level     int
	queuedAt  int64
	yieldNote string
	group     *group // the blocked group holding the job
	wokeFrom  *group // the group the job was last woken from
	use       usage  // what the current placement holds
	// reservedFrom is the expected start of the job's reservation, shown
	// in its record when it blocks (0: none).
	reservedFrom int64
	// noPlan is the noPlanStamp at which plan found no placement for the
	// gang even with every job it could wait for gone (0: none).
	noPlan    uint64
	pendingAt int // index in Core.pending + 1; 0 when not pending
	// groupKey is the key of the group the job last blocked in, for
	// keyReason and keyWaits.
	groupKey  string
	keyReason string
	keyWaits  []string
	// resvWaits is []string{reservationClass(job.ID)}, made once: jobs
	// behind the job's reservation wait on it (read only).
	resvWaits []string

	committed *model.Placement // the placement the store holds
	// retried is the placement a retry stopped: not put back by undo.
	retried        *model.Placement
	notBefore      int64 // a retried job is not queued before this
	committedState model.JobState
	stops          []stopRec // placements stopped since Advance, with why
	version        uint64
	dirty          bool
}

// stopRec says why a placement was stopped; Ready turns it into a Stop if
// the placement was committed.
type stopRec struct {
	p      *model.Placement
	reason string
	by     model.JobID
	detail string
}

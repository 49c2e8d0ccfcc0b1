// Package core is Suanli's scheduling state machine: the pending queue, the
// blocked set, reservations, preemption and requeues, driven by events and
// deciding through package sched. It is pure: no I/O, no clock, no
// goroutines, no logging. The shell (the server, the replay simulator, a
// benchmark) feeds it events with Step, persists what Ready returns, then
// calls Advance — the shape of etcd's raft.RawNode.
//
//	for ev := range events {
//		if err := c.Step(ev); err != nil { reject(ev, err); continue }
//		if rd := c.Ready(); !rd.Empty() {
//			if commit(rd) == nil { c.Advance(rd) } else { c.Step(core.CommitFailed{At: now}) }
//		}
//	}
//
// The same events in the same order give byte-identical Ready values.
package core

import (
	"errors"
	"fmt"
	"slices"

	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/network"
	"github.com/suanli/suanli/internal/sched"
)

// Config tunes the core. The zero value is usable.
type Config struct {
	// Sched is handed to every sched.Schedule call.
	Sched sched.Config
	// AwaitRegistration starts every node lost until its NodeRegistered
	// event (the server's setting); false starts them all healthy (replay,
	// tests, benchmarks).
	AwaitRegistration bool
	// PreemptCandidates bounds the running jobs considered as victims for
	// one preemptor (default 64, the largest first).
	PreemptCandidates int
	// Seed is handed to the scheduler to break ties between equal
	// candidates (0 keeps the network's preference order).
	Seed uint64
	// MaxReservations bounds the gangs holding a reservation at once
	// (default 8): the first blocked gangs in queue order get one.
	MaxReservations int
	// ReservationPatienceSec is how long a reservation may hold back
	// backfill without progress — no job on its planned nodes ending —
	// before it stops holding anything back (default 3600; it holds again
	// once a job on its nodes ends).
	ReservationPatienceSec int64
	// ReleaseWithin, when positive, makes a stopped placement hold its
	// cards on the nodes whose agents report their workers (NodeReports)
	// until WorkersGone, or for at most this many seconds (hold.go). Zero
	// frees them at once (replay, tests, benchmarks).
	ReleaseWithin int64
	// Mix, when set, learns the task mix from the jobs submitted
	// (sched.Mix) and hands its typical tasks to the scheduler in place of
	// Sched.TypicalTasks; MixState is what to start from (the store's).
	Mix      *sched.MixConfig
	MixState *sched.MixState
	// EffectiveShare charges placements toward fair share and FP16
	// quotas by their effective throughput, in cards of ReferenceModel
	// (default DefaultReferenceModel) times its peak GFLOPS, for jobs with
	// rates (their own, or their class's from ThroughputRates); see
	// throughput.go. False: peak FLOPS.
	EffectiveShare bool
	ReferenceModel string
	// Migration moves running jobs to faster free models at each Tick
	// (migrate.go); zero: never.
	Migration Migration
	// Service orders queues by attained service and lets jobs with less
	// take the cards of jobs with more (service.go); zero: never.
	Service Service
}

// Defaults of Config.
const (
	DefaultReferenceModel         = "huawei-ascend-910b4"
	DefaultMaxReservations        = 8
	DefaultReservationPatienceSec = 3600
)

// Core is the state machine. It is not safe for concurrent use: one
// goroutine owns it.
type Core struct {
	cfg Config
	mix *sched.Mix // nil unless Config.Mix
	// mixVersion counts the changes of the learned mix (closed batches),
	// what the store keeps; tasksGen the changes of its typical tasks,
	// which plans are measured against (most batches leave them).
	mixVersion uint64
	tasksGen   uint64
	net        *network.Network
	cluster    *sched.Cluster
	policy     sched.Policy
	now        int64
	seq        uint64

	jobs    map[model.JobID]*entry
	backoff []*entry // retried jobs waiting out their pause, out of the queue
	tenants map[model.TenantID]*tenantState
	pending []*entry                     // in no order; entry.pendingAt is the index
	waiters map[string]map[string]*group // class → group key → group
	groups  map[string]*group
	woken   []*entry   // group members woken mid-pass, for the picker
	picker  *picker    // reused by every round of every pass (newPicker)
	onNode  [][]*entry // per cluster node index: placed jobs with a worker there, each once
	// rates is the per-class throughput table (ThroughputRates); class
	// jobs without rates of their own are ranked by its row.
	rates       map[string]map[string]float64
	ratesSource string
	learned     map[string]map[string]bool // ThroughputRates.Learned
	resv        []*reservation
	// resvOn lists the reservations planned on each node; resvGen counts
	// changes to any reservation's nodes (reservation.ver).
	resvOn  map[model.NodeID][]*reservation
	resvGen uint64
	// limits checks jobs against the empty network; unfit remembers its
	// verdicts per shape until the policy changes (neverFits).
	limits *sched.Limits
	unfit  map[string]*sched.Unfit
	// placed holds the placed jobs by priority, so that preemption looks
	// only at lower priorities (and costs nothing when none run); in no
	// particular order (each entry knows its index, placedIx).
	placed map[int][]*entry
	// prioMilli is what the placed jobs of each priority hold per model,
	// in thousandths of a card: preemption is not searched when lower
	// priorities hold too little.
	prioMilli map[int]map[string]int64

	holds   map[holdKey]*hold     // cards of stopped placements not yet released (hold.go)
	reports map[model.NodeID]bool // nodes whose agents report their workers' ends

	down        map[model.NodeID]bool
	capMilli    map[string]int64          // per model: cards on healthy nodes, in thousandths
	usedMilli   map[string]int64          // per model: held by placements
	fp16        map[string]int64          // per model: GFLOPS per card
	models      map[string]*catalog.Model // catalog look-ups by name (model)
	modelIdx    map[string]uint           // numbers models for the jobs' model sets
	totalGFLOPS int64
	totalMemMiB int64

	dirty []*entry // changed since Advance, in first-change order
	// freedGen counts the capacity freed earlier than reservations
	// expected (every release but that of a job ending at its declared
	// end, a node coming back): it may let a gang start sooner elsewhere;
	// modelGen counts those per model (by modelIdx number) that involve
	// the model (freed). Changes on a reservation's own nodes drop its plan
	// directly (changedOn).
	freedGen uint64
	modelGen []uint64
	// stampOf, when set, replaces resvStamp (tests check the counts
	// against the nodes' contents).
	stampOf   func(e *entry, nodes map[model.NodeID]bool) uint64
	policyGen uint64 // counts PolicyChanged
	maxFP16   int64  // the most GFLOPS of a card of the network (mostGFLOPS)
	plans     int    // plans made (plan), for tests
	work      Work

	// Scratch reused between decisions (preemption).
	scratchCands []victimKey
	scratchAmt   map[*entry]int64
	scratchFree  map[string]int64
	scratchHold  []*reservation // holders
	scratchOff   []int32        // maskWith's nodes taken out
	order        planOrder      // the placed jobs in plan's release order (order.go)
}

// New returns a core for the network. Every node starts healthy unless
// cfg.AwaitRegistration is set.
// model is the catalog model a name stands for (nil when the catalog does
// not know it), remembered per name: the network's catalog does not change.
func (c *Core) model(name string) *catalog.Model {
	if m, ok := c.models[name]; ok {
		return m
	}
	m := c.net.Model(name)
	if c.models == nil {
		c.models = map[string]*catalog.Model{}
	}
	if len(c.models) < 1024 { // names come from jobs: bound what is kept
		c.models[name] = m
	}
	return m
}

func New(net *network.Network, cfg Config) *Core {
	if cfg.PreemptCandidates <= 0 {
		cfg.PreemptCandidates = 64
	}
	if cfg.MaxReservations <= 0 {
		cfg.MaxReservations = DefaultMaxReservations
	}
	if cfg.ReservationPatienceSec <= 0 {
		cfg.ReservationPatienceSec = DefaultReservationPatienceSec
	}
	if cfg.Migration.Enabled {
		cfg.Migration.defaults()
	}
	if cfg.Service.Enabled {
		cfg.Service.defaults()
	}
	if cfg.ReferenceModel == "" {
		cfg.ReferenceModel = DefaultReferenceModel
	}
	c := &Core{
		cfg: cfg, net: net, cluster: sched.NewCluster(net),
		jobs: map[model.JobID]*entry{}, tenants: map[model.TenantID]*tenantState{},
		waiters: map[string]map[string]*group{}, groups: map[string]*group{},
		onNode: make([][]*entry, len(net.Nodes)), down: map[model.NodeID]bool{}, resvOn: map[model.NodeID][]*reservation{},
		placed: map[int][]*entry{}, prioMilli: map[int]map[string]int64{},
		scratchAmt: map[*entry]int64{}, scratchFree: map[string]int64{}, modelIdx: map[string]uint{}, capMilli: map[string]int64{}, usedMilli: map[string]int64{}, fp16: map[string]int64{},
	}
	if cfg.Mix != nil {
		c.mix = sched.NewMix(*cfg.Mix, cfg.MixState)
		c.cfg.Sched.TypicalTasks = c.mix.TypicalTasks()
	}
	c.cfg.Sched.TasksGen = c.tasksGen + 1 // the core alone changes the tasks, with tasksGen
	for i := range net.Nodes {
		n := &net.Nodes[i]
		m := net.Model(n.Model)
		if m == nil {
			continue
		}
		g, _, _ := m.FP16GFLOPS()
		c.fp16[n.Model] = g
		c.totalGFLOPS += g * int64(n.Cards)
		c.totalMemMiB += m.MemMiB() * int64(n.Cards)
		if cfg.AwaitRegistration {
			c.down[n.ID] = true
			c.cluster.SetNodeHealthy(n.ID, false)
		} else {
			c.capMilli[n.Model] += int64(n.Cards) * model.MilliCard
		}
	}
	return c
}

// Job returns the core's record of a job it holds (terminal jobs are
// dropped once advanced).
func (c *Core) Job(id model.JobID) (JobStatus, bool) {
	e, ok := c.jobs[id]
	if !ok {
		return JobStatus{}, false
	}
	return e.st, true
}

// Errors Step returns for events it cannot apply; the core is unchanged.
var (
	ErrInvalidJob  = errors.New("invalid job")
	ErrDuplicate   = errors.New("job already known")
	ErrUnknownNode = errors.New("node not in the network")
)

// Step applies one event and schedules what it made possible. It returns
// an error, and changes nothing, for an event it cannot apply (an invalid
// job, a node outside the network); events about jobs it does not hold are
// ignored, as stale reports are normal.
func (c *Core) Step(ev Event) error {
	if ev == nil {
		return errors.New("step: nil event")
	}
	if err := c.check(ev); err != nil {
		return err
	}
	c.now = max(c.now, ev.time())
	c.releaseBackoff()
	if !c.stepJob(ev) {
		c.stepOther(ev)
	}
	if !quiet(ev) {
		c.pass()
	}
	return nil
}

// stepOther applies an event about nodes, tenants, policy or the store.
func (c *Core) stepOther(ev Event) {
	switch ev := ev.(type) {
	case NodeRegistered:
		c.nodeUp(ev.Node)
	case NodeHealthy:
		c.nodeUp(ev.Node)
	case NodeLost:
		c.nodeLost(ev.Node)
	case NodeDisconnected:
		c.nodeDown(ev.Node)
	case JobLost:
		if e := c.jobs[ev.Job]; e != nil && e.st.Placement != nil && !c.healthy(e.st.Placement) {
			c.unplace(e, StopNodeLost, "")
			c.requeue(e, StopNodeLost)
		}
	case NodeReports:
		c.setReports(ev.Node, ev.On)
	case WorkersGone:
		c.release(holdKey{ev.Job, ev.Node})
	case Tick:
		c.releaseExpired()
		c.refreshReservations()
		if c.cfg.Migration.Enabled || c.cfg.Service.Enabled {
			c.pass() // the queue first: a move takes only what nobody waits for
			if c.serviceTick() {
				c.pass() // the jobs that yielded
			}
			c.migrate()
		}
	case TenantUpserted:
		c.upsertTenant(ev.Tenant)
	case PolicyChanged:
		c.setPolicy(ev.Policy)
	case CommitFailed:
		c.undo()
		c.recheckPolicy()
	case ThroughputRates:
		c.setRates(ev)
	}
}

// stepJob applies an event about one job; false for other events.
func (c *Core) stepJob(ev Event) bool {
	switch ev := ev.(type) {
	case JobSubmitted:
		c.submit(ev.Job)
		c.observe(&ev.Job)
	case JobRestored:
		c.restore(ev)
		if ev.Position == 0 { // stored before any core queued it: a new arrival
			c.observe(&ev.Job)
		}
	case JobCancelled:
		c.end(ev.Job, model.Cancelled)
	case JobFinished:
		st := model.Completed
		if ev.Failed {
			st = model.Failed
		}
		c.end(ev.Job, st)
	case JobStarted:
		if e := c.jobs[ev.Job]; e != nil && e.st.State == model.Placed {
			e.st.State = model.Running
			c.touch(e)
		}
	case JobRetried:
		c.retryJob(ev)
	case Checkpointed:
		if e := c.jobs[ev.Job]; e != nil && ev.Time > e.job.CheckpointTime {
			e.job.CheckpointTime = ev.Time
		}
	default:
		return false
	}
	return true
}

// upsertTenant records a tenant's new terms.
func (c *Core) upsertTenant(t model.Tenant) {
	ts := c.tenant(t.ID)
	ts.t = t
	ts.ver++
	ts.setVer++
	if ts.t.Weight == 0 {
		ts.t.Weight = 1
	}
	c.wake(quotaClass(t.ID))
}

// setPolicy installs a new policy and checks the jobs against it.
func (c *Core) setPolicy(p sched.Policy) {
	c.policy = p
	c.policyGen++
	c.recheckPolicy()
	c.recheckFits()
	c.wake(classPolicy)
}

// quiet reports whether an event can make nothing placeable, so that Step
// skips the pass: a restore (see JobRestored), a node's agent starting to
// report (a shell steps it for every node it loads).
func quiet(ev Event) bool {
	switch ev := ev.(type) {
	case JobRestored:
		return true
	case NodeReports:
		return ev.On
	}
	return false
}

func (c *Core) check(ev Event) error {
	switch ev := ev.(type) {
	case JobSubmitted:
		if err := ev.Job.Validate(); err != nil {
			return fmt.Errorf("submit %s: %w: %w", ev.Job.ID, ErrInvalidJob, err)
		}
		if _, ok := c.jobs[ev.Job.ID]; ok {
			return fmt.Errorf("submit %s: %w", ev.Job.ID, ErrDuplicate)
		}
	case JobRestored:
		return c.checkRestore(ev)
	case NodeRegistered:
		return c.checkNode(ev.Node)
	case NodeHealthy:
		return c.checkNode(ev.Node)
	case NodeLost:
		return c.checkNode(ev.Node)
	case NodeDisconnected:
		return c.checkNode(ev.Node)
	case NodeReports:
		return c.checkNode(ev.Node)
	case TenantUpserted:
		if err := ev.Tenant.Validate(); err != nil {
			return fmt.Errorf("tenant %s: %w", ev.Tenant.ID, err)
		}
	case ThroughputRates:
		return checkRates(ev)
	}
	return nil
}

func (c *Core) checkRestore(ev JobRestored) error {
	if err := ev.Job.Validate(); err != nil {
		return fmt.Errorf("restore %s: %w: %w", ev.Job.ID, ErrInvalidJob, err)
	}
	if _, ok := c.jobs[ev.Job.ID]; ok {
		return fmt.Errorf("restore %s: %w", ev.Job.ID, ErrDuplicate)
	}
	if p := ev.Placement; p != nil {
		if p.Job != ev.Job.ID {
			return fmt.Errorf("restore %s: the placement is job %s's", ev.Job.ID, p.Job)
		}
		if err := c.cluster.Apply(*p); err != nil {
			return fmt.Errorf("restore %s: %w; the store holds placements that overlap", ev.Job.ID, err)
		}
		_ = c.cluster.Release(*p) // only a check; restore applies it
	}
	return nil
}

func (c *Core) checkNode(id model.NodeID) error {
	if _, ok := c.net.Node(id); !ok {
		return fmt.Errorf("node %s: %w; add it to the network spec first", id, ErrUnknownNode)
	}
	return nil
}

func (c *Core) tenant(id model.TenantID) *tenantState {
	ts, ok := c.tenants[id]
	if !ok {
		ts = newTenantState(id)
		c.tenants[id] = ts
	}
	return ts
}

// touch marks a job changed, for the next Ready.
func (c *Core) touch(e *entry) {
	e.version++
	if !e.dirty {
		e.dirty = true
		c.dirty = append(c.dirty, e)
	}
}

// HasReady reports whether Ready has anything to persist.
func (c *Core) HasReady() bool { return len(c.dirty) > 0 }

// Ready returns everything decided since the last Advance. Calling it
// again before Advance returns the same decisions plus any newer ones.
// The placements it returns are shared with the core: read, don't modify.
func (c *Core) Ready() Ready {
	var rd Ready
	rd.versions = make([]uint64, 0, len(c.dirty))
	if len(c.dirty) > 0 {
		rd.Jobs = make([]JobStatus, 0, len(c.dirty)) // a record per job
	}
	for _, e := range c.dirty {
		cur := e.st.Placement
		if e.committed != nil && e.committed != cur {
			for _, s := range e.stops {
				if s.p == e.committed {
					rd.Stops = append(rd.Stops, Stop{Job: e.job.ID, Reason: s.reason, By: s.by, Placement: *s.p, Detail: s.detail})
				}
			}
		}
		if cur != nil && cur != e.committed {
			rd.Placements = append(rd.Placements, *cur)
		}
		st := e.st
		st.Waits = slices.Clone(st.Waits)
		rd.Jobs = append(rd.Jobs, st)
		rd.versions = append(rd.versions, e.version)
	}
	return rd
}

// Advance tells the core that rd is committed: its placements and stops are
// now the store's, and the records in it need not be sent again unless they
// change. rd must be the value Ready returned (it carries what Advance
// needs), not one rebuilt from JSON.
func (c *Core) Advance(rd Ready) {
	for i, st := range rd.Jobs {
		e := c.jobs[st.Job]
		if e == nil {
			continue
		}
		e.committed, e.committedState = st.Placement, st.State
		e.stops = slices.DeleteFunc(e.stops, func(s stopRec) bool { return s.p != e.committed })
		if i < len(rd.versions) && e.version == rd.versions[i] {
			e.dirty = false
			if e.st.State.Terminal() {
				delete(c.jobs, e.job.ID)
			}
		}
	}
	kept := c.dirty[:0]
	for _, e := range c.dirty {
		if e.dirty {
			kept = append(kept, e)
		}
	}
	clear(c.dirty[len(kept):])
	c.dirty = kept
}

// Workload is the learned task mix and a version that changes whenever it
// does (a batch of arrivals closes); ok is false when the core does not
// learn one.
func (c *Core) Workload() (st sched.MixState, version uint64, ok bool) {
	if c.mix == nil {
		return sched.MixState{}, 0, false
	}
	return c.mix.State(), c.mixVersion, true
}

// observe teaches the learned task mix a job's arrival.
func (c *Core) observe(j *model.Job) {
	if c.mix != nil && c.mix.Observe(j) {
		c.mixVersion++
		if g := c.mix.TasksGen(); g != c.tasksGen {
			c.tasksGen = g
			c.cfg.Sched.TypicalTasks = c.mix.TypicalTasks()
			c.cfg.Sched.TasksGen = g + 1
		}
	}
}

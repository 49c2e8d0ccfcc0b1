package core

import (
	"maps"
	"math"
	"slices"

	"github.com/suanli/suanli/internal/model"
)

// Capacity classes a blocked job waits for.
const (
	classAny    = "model:*" // any model's cards
	classPolicy = "policy"  // a policy change
)

func modelClass(id string) string           { return "model:" + id }
func quotaClass(t model.TenantID) string    { return "quota:" + string(t) }
func reservationClass(j model.JobID) string { return "reservation:" + string(j) }
func (e *entry) reservedClass() string      { return e.reservedWaits()[0] }

// reservedWaits is what jobs behind the job's reservation wait on.
func (e *entry) reservedWaits() []string {
	if e.resvWaits == nil {
		e.resvWaits = []string{reservationClass(e.job.ID)}
	}
	return e.resvWaits
}

func (c *Core) submit(j model.Job) {
	c.seq++
	e := &entry{job: j, byGFLOPS: len(j.Models) == 0 && j.ComputeGFLOPS > 0}
	e.job.Models = slices.Clone(j.Models)
	e.job.Rates = maps.Clone(j.Rates)
	e.ownRates = len(j.Rates) > 0
	e.ownRatesShape = e.ownRates && c.cfg.EffectiveShare
	c.classRates(e)
	for _, name := range j.Models {
		id := name
		if m := c.model(name); m != nil {
			id = m.ID
		}
		if cl := modelClass(id); !slices.Contains(e.classes, cl) {
			e.classes = append(e.classes, cl)
		}
	}
	if len(e.classes) == 0 {
		e.classes = []string{classAny}
		e.anyModel = true
	}
	slices.Sort(e.classes)
	for _, cl := range e.classes {
		if !e.anyModel {
			i := c.modelIndex(cl[len("model:"):])
			for int(i/64) >= len(e.models) {
				e.models = append(e.models, 0)
			}
			e.models[i/64] |= 1 << (i % 64)
		}
	}
	e.st = JobStatus{Job: j.ID, Tenant: j.Tenant, State: model.Pending, Since: c.now, Position: c.seq}
	c.tenant(j.Tenant)
	c.jobs[j.ID] = e
	c.pend(e)
	c.touch(e)
}

// modelIndex numbers a model for the jobs' model sets.
func (c *Core) modelIndex(id string) uint {
	i, ok := c.modelIdx[id]
	if !ok {
		i = uint(len(c.modelIdx))
		c.modelIdx[id] = i
	}
	return i
}

// restore re-creates a job the store holds, without deciding anything.
func (c *Core) restore(ev JobRestored) {
	c.submit(ev.Job)
	e := c.jobs[ev.Job.ID]
	if ev.Position > 0 {
		e.st.Position = ev.Position
		c.seq = max(c.seq, ev.Position)
	}
	if ev.Attained > 0 {
		e.attained, e.st.Attained = ev.Attained, ev.Attained
		c.queued(e) // pending, in no group yet: its level may change
	}
	if p := ev.Placement; p != nil {
		e.committed, e.committedState = p, model.Placed
		if ev.State == model.Running {
			e.committedState = model.Running
		}
		c.place(e, p)
		e.st.State = e.committedState
	}
	// A retried job restored in its pause waits it out of the queue.
	if ev.Placement == nil && ev.NotBefore > c.now {
		c.unqueue(e)
		e.notBefore = ev.NotBefore
		c.backoff = append(c.backoff, e)
	}
	// Nothing to persist: the store is where this came from. A queued job
	// is decided at the next pass, and Ready says so then.
	e.dirty = false
	c.dirty = slices.DeleteFunc(c.dirty, func(x *entry) bool { return x == e })
}

// end makes a job terminal: cancelled by the user, or finished.
func (c *Core) end(id model.JobID, st model.JobState) {
	e := c.jobs[id]
	if e == nil || e.st.State.Terminal() {
		return
	}
	if st != model.Cancelled && e.st.Placement == nil {
		return // a stale report about a job that is not placed
	}
	if p := e.st.Placement; p != nil {
		reason := ""
		if st == model.Cancelled {
			reason = StopCancelled
		}
		c.unplace(e, reason, "")
		if st == model.Failed && p == e.committed {
			c.holdStopped(e.job.ID, p) // one worker failed; the others still run
		}
	}
	c.unqueue(e)
	c.dropReservation(e)
	e.st.State, e.st.Reason, e.st.Since = st, "", c.now
	e.st.Decision, e.st.Waits, e.st.ReservedFrom, e.reservedFrom = nil, nil, 0, 0
	c.touch(e)
}

// place commits a decision to the core's view.
func (c *Core) place(e *entry, p *model.Placement) bool { return c.placeUsing(e, p, nil) }

// placeUsing is place given p's usage, if already measured (nil if not).
func (c *Core) placeUsing(e *entry, p *model.Placement, pu *usage) bool {
	if len(c.holds) > 0 && e.committed != nil && (p == e.committed || samePlacement(p, e.committed)) {
		c.releaseJob(e.job.ID) // its stop never reached the store: nothing stopped
	}
	if e.committed != nil && p != e.committed && samePlacement(p, e.committed) {
		// Back where the store has it: the stop was never committed, so
		// the workload never stopped.
		p = e.committed
		e.stops = slices.DeleteFunc(e.stops, func(s stopRec) bool { return s.p == p })
		pu = nil // measured on the other placement
	}
	nodes := make([]int32, len(p.Assignments))
	for i, a := range p.Assignments {
		if n, ok := c.cluster.NodeIndex(a.Node); ok {
			nodes[i] = n
		} else {
			nodes[i] = -1 // ApplyAt rejects it
		}
	}
	if err := c.cluster.ApplyAt(p, nodes); err != nil {
		return false
	}
	var u usage
	if pu != nil {
		u = *pu
	} else {
		u = c.usageOf(e, p)
	}
	e.use = u
	e.use.nodes = nodes
	c.changedOn(p, endOf(e, c.now))
	if e.placedIx == 0 {
		c.placed[e.job.Priority] = append(c.placed[e.job.Priority], e)
		e.placedIx = len(c.placed[e.job.Priority])
	}
	c.tenant(e.job.Tenant).add(u, 1)
	held := c.prioMilli[e.job.Priority]
	if held == nil {
		held = map[string]int64{}
		c.prioMilli[e.job.Priority] = held
	}
	for _, x := range u.models {
		c.usedMilli[x.model] += x.milli
		held[x.model] += x.milli
	}
	for _, n := range nodes {
		// A node holds few jobs: a slice, searched, is cheaper than a map.
		if jobs := c.onNode[n]; !slices.Contains(jobs, e) {
			c.onNode[n] = append(jobs, e)
		}
	}
	c.unqueue(e)
	c.dropReservation(e)
	if g := e.wokeFrom; g != nil {
		e.wokeFrom = nil
		c.wakeNext(g) // the next job of its shape may fit too
	}
	e.st.State, e.st.Reason, e.st.Since = model.Placed, "", c.now
	e.st.Placement, e.st.Waits, e.st.ReservedFrom, e.reservedFrom = p, nil, 0, 0
	e.placedAt = c.now
	c.order.add(e)
	if e.firstPlaced == 0 {
		e.firstPlaced = c.now
	}
	c.touch(e)
	return true
}

// unplace releases a job's placement; reason (when not empty) is the Stop
// the agents get if the placement was committed. The job's state is the
// caller's to set.
func (c *Core) unplace(e *entry, reason string, by model.JobID) {
	p := e.st.Placement
	if p == nil {
		return
	}
	c.accrue(e)
	_ = c.cluster.ReleaseAt(p, e.use.nodes) // the core applied it: it matches
	c.progressed(p)
	if reason != "" && reason != StopPreempted && p == e.committed {
		c.holdStopped(e.job.ID, p) // its workers run until their agents stop them
	}
	if e.job.RuntimeSec <= 0 || e.placedAt+e.job.RuntimeSec > c.now {
		c.freed(e.use.models) // released before reservations expected it
		c.changedOn(p, math.MaxInt64)
	} else {
		// At or after its declared end: every plan counted it free by
		// then, so none may start sooner for it.
		c.changedOn(p, c.now)
	}
	u := e.use
	e.use = usage{}
	c.unlistPlaced(e)
	c.tenant(e.job.Tenant).add(u, -1)
	models := make([]string, 0, len(u.models))
	held := c.prioMilli[e.job.Priority]
	for _, x := range u.models {
		m := x.model
		c.usedMilli[m] -= x.milli
		if held[m] -= x.milli; held[m] == 0 {
			delete(held, m)
		}
		models = append(models, m)
	}
	if len(held) == 0 {
		delete(c.prioMilli, e.job.Priority)
	}
	for _, n := range u.nodes {
		jobs := c.onNode[n]
		if i := slices.Index(jobs, e); i >= 0 {
			last := len(jobs) - 1
			jobs[i], jobs[last] = jobs[last], nil
			c.onNode[n] = jobs[:last]
		}
	}
	if reason != "" {
		e.stops = append(e.stops, stopRec{p: p, reason: reason, by: by})
		if reason == StopMigrated {
			e.stops[len(e.stops)-1].detail = e.moveNote
		} else if e.yieldNote != "" {
			e.stops[len(e.stops)-1].detail = e.yieldNote
		}
	}
	e.st.Placement, e.yieldNote = nil, ""
	c.touch(e)
	slices.Sort(models)
	for _, m := range models {
		c.wake(modelClass(m))
	}
	c.wake(classAny)
	c.wake(quotaClass(e.job.Tenant))
}

// retryJob stops a placed job whose worker failed and requeues it, or holds
// it out of the queue until its pause ends.
func (c *Core) retryJob(ev JobRetried) {
	e := c.jobs[ev.Job]
	if e == nil || e.st.Placement == nil || (e.st.State != model.Placed && e.st.State != model.Running) {
		return
	}
	reason := ev.Reason
	if reason == "" {
		reason = StopRetried
	}
	e.retried = e.st.Placement
	c.unplace(e, reason, "")
	c.requeue(e, reason)
	// Not in this pass even without a pause: placed again on the same
	// cards it would not show as stopped and started afresh.
	c.unqueue(e)
	e.notBefore = max(ev.NotBefore, c.now+1)
	c.backoff = append(c.backoff, e)
}

// releaseBackoff queues the retried jobs whose pause has ended.
func (c *Core) releaseBackoff() {
	kept := c.backoff[:0]
	for _, e := range c.backoff {
		switch {
		case c.jobs[e.job.ID] != e || e.st.State != model.Pending || e.pendingAt != 0:
			// ended or queued meanwhile: drop it
		case e.notBefore <= c.now:
			e.notBefore = 0
			c.pend(e)
		default:
			kept = append(kept, e)
		}
	}
	clear(c.backoff[len(kept):])
	c.backoff = kept
}

// requeue puts a stopped job back in the queue at its old position, to
// resume from its latest checkpoint.
func (c *Core) requeue(e *entry, reason string) {
	e.st.State, e.st.Reason, e.st.Since = model.Pending, reason, c.now
	e.st.Waits, e.st.ResumeFrom = nil, e.job.CheckpointTime
	c.queued(e)
	c.pend(e)
	c.touch(e)
}

func (c *Core) nodeUp(id model.NodeID) {
	if !c.down[id] {
		return
	}
	delete(c.down, id)
	n, _ := c.net.Node(id)
	c.cluster.SetNodeHealthy(id, true)
	c.replanOn(id)
	c.freed([]modelAmount{{model: n.Model}})
	c.capMilli[n.Model] += int64(n.Cards) * model.MilliCard
	c.wake(modelClass(n.Model))
	c.wake(classAny)
}

// nodeLost stops every job with a worker on the node — whole gangs — and
// requeues them from their last checkpoint.
//
// A node that was already down (never registered since a restart) may
// still hold restored placements: they are stopped too.
func (c *Core) nodeLost(id model.NodeID) {
	c.nodeDown(id)
	c.releaseNode(id)
	for _, e := range c.sortedOn(id) {
		c.unplace(e, StopNodeLost, "")
		c.requeue(e, StopNodeLost)
	}
}

// nodeDown takes a node's cards out of the capacity new work may use; the
// jobs placed on it keep their placements (NodeDisconnected).
func (c *Core) nodeDown(id model.NodeID) {
	if c.down[id] {
		return
	}
	c.down[id] = true
	n, _ := c.net.Node(id)
	c.cluster.SetNodeHealthy(id, false)
	c.replanOn(id)
	c.capMilli[n.Model] -= int64(n.Cards) * model.MilliCard
}

// sortedOn lists the jobs with a worker on a node, in queue order.
func (c *Core) sortedOn(id model.NodeID) []*entry {
	n, ok := c.cluster.NodeIndex(id)
	if !ok {
		return nil
	}
	out := slices.Clone(c.onNode[n])
	slices.SortFunc(out, func(a, b *entry) int { return cmpUint(a.st.Position, b.st.Position) })
	return out
}

// unlistPlaced takes a job out of Core.placed.
func (c *Core) unlistPlaced(e *entry) {
	if e.placedIx == 0 {
		return
	}
	set := c.placed[e.job.Priority]
	i, last := e.placedIx-1, len(set)-1
	set[i] = set[last]
	set[i].placedIx = i + 1
	set[last] = nil
	e.placedIx = 0
	c.order.remove(e)
	if last == 0 {
		delete(c.placed, e.job.Priority)
	} else {
		c.placed[e.job.Priority] = set[:last]
	}
}

// placedJobs lists every placed job in queue order.
func (c *Core) placedJobs() []*entry {
	var out []*entry
	for _, set := range c.placed {
		out = append(out, set...)
	}
	slices.SortFunc(out, func(a, b *entry) int { return cmpUint(a.st.Position, b.st.Position) })
	return out
}

// recheckPolicy evicts every placed job the current policy no longer
// allows (or, for a Keeper, no longer keeps) and requeues it.
func (c *Core) recheckPolicy() {
	if c.policy == nil {
		return
	}
	for _, e := range c.placedJobs() {
		if !c.keeps(e) {
			c.unplace(e, StopEvicted, "")
			c.requeue(e, StopEvicted)
		}
	}
}

// undo reverts every decision not yet advanced: placements made since are
// released, committed placements stopped by a preemption or an eviction
// are restored (unless a node of theirs has been lost since), and the jobs
// go back to their committed state or to the queue.
func (c *Core) undo() {
	var changed []*entry
	for _, e := range c.dirty {
		if !e.st.State.Terminal() && e.st.Placement != e.committed {
			changed = append(changed, e)
		}
	}
	for _, e := range changed {
		if e.st.Placement != nil {
			c.unplace(e, "", "")
			c.requeue(e, "")
		}
	}
	for _, e := range changed {
		p := e.committed
		if p == nil || p == e.retried || !c.healthy(p) || !c.place(e, p) {
			continue
		}
		e.st.State = e.committedState
		e.stops = slices.DeleteFunc(e.stops, func(s stopRec) bool { return s.p == p })
	}
}

// samePlacement reports whether two placements hold the same cards the
// same way.
func samePlacement(a, b *model.Placement) bool {
	if a.GFLOPS != b.GFLOPS || len(a.Assignments) != len(b.Assignments) {
		return false
	}
	for i := range a.Assignments {
		x, y := &a.Assignments[i], &b.Assignments[i]
		if x.Worker != y.Worker || x.Node != y.Node || x.Model != y.Model || x.ShareMilli != y.ShareMilli ||
			x.MemMiB != y.MemMiB || x.WorkShareMilli != y.WorkShareMilli || !slices.Equal(x.Cards, y.Cards) {
			return false
		}
	}
	return true
}

func (c *Core) healthy(p *model.Placement) bool {
	for _, a := range p.Assignments {
		if c.down[a.Node] {
			return false
		}
	}
	return true
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

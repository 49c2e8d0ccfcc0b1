package core

import (
	"maps"
	"math/bits"
	"slices"

	"github.com/suanli/suanli/internal/model"
)

// reservation holds the nodes a blocked gang is planned to start on: jobs
// queued behind the gang that would take a card of those nodes may only
// backfill, that is run if their declared runtime ends before the gang's
// expected start. Jobs that fit elsewhere are not held back.
type reservation struct {
	job *entry
	// start is when the jobs holding the planned nodes are expected to
	// have ended, by their declared runtimes; -1 when one of them declared
	// none (then nothing backfills there).
	start int64
	// nodes are the nodes of the gang's planned placement (plan); models
	// the models on them.
	nodes  map[model.NodeID]bool
	first  model.NodeID // the plan's first node, for explanations
	models []string
	// stamp and gen are the job's startStamp and Core.resvGen the plan was
	// made at: it is kept while both hold.
	stamp, gen uint64
	// progress is when the reservation was made or a job on its nodes last
	// ended; after Config.ReservationPatienceSec without progress it is
	// stale and holds nothing back.
	progress int64
	stale    bool
}

// admits reports whether a job queued behind the reservation may run now:
// its declared runtime ends before the gang's expected start.
func (r *reservation) admits(e *entry, now int64) bool {
	return e.job.RuntimeSec > 0 && r.start >= 0 && now+e.job.RuntimeSec <= r.start
}

// ahead reports whether a is ahead of b in the queue.
func ahead(a, b *entry) bool {
	if a.job.Priority != b.job.Priority {
		return a.job.Priority > b.job.Priority
	}
	return a.st.Position < b.st.Position
}

// overlaps reports whether two jobs can use some model in common.
func overlaps(a, b *entry) bool {
	if a.anyModel || b.anyModel {
		return true
	}
	for i := range min(len(a.models), len(b.models)) {
		if a.models[i]&b.models[i] != 0 {
			return true
		}
	}
	return false
}

// canUse reports whether the job can use a model.
func (c *Core) canUse(e *entry, modelID string) bool {
	if e.anyModel {
		return true
	}
	i, ok := c.modelIdx[modelID]
	return ok && int(i/64) < len(e.models) && e.models[i/64]&(1<<(i%64)) != 0
}

// resvOf returns the job's reservation, nil when it holds none.
func (c *Core) resvOf(e *entry) *reservation {
	for _, r := range c.resv {
		if r.job == e {
			return r
		}
	}
	return nil
}

// holders lists the reservations that hold e back: made by gangs ahead of
// e, not stale, on nodes of models e can use, from a start e's declared
// runtime does not end before. The slice is scratch, valid until the next
// call.
func (c *Core) holders(e *entry) []*reservation {
	out := c.scratchHold[:0]
	for _, r := range c.resv {
		if r.job == e || r.stale || !ahead(r.job, e) || r.admits(e, c.now) {
			continue
		}
		if slices.ContainsFunc(r.models, func(m string) bool { return c.canUse(e, m) }) {
			out = append(out, r)
		}
	}
	c.scratchHold = out
	return out
}

// touches lists the reservations of hold whose nodes p uses.
func touches(p *model.Placement, hold []*reservation) []*reservation {
	var out []*reservation
	for _, r := range hold {
		if slices.ContainsFunc(p.Assignments, func(a model.Assignment) bool { return r.nodes[a.Node] }) {
			out = append(out, r)
		}
	}
	return out
}

// masked runs f with the nodes of the reservations taken out of the
// core's cluster (marked unhealthy), and puts them back.
func (c *Core) masked(rs []*reservation, f func()) {
	var off []model.NodeID
	for _, r := range rs {
		for n := range r.nodes {
			if !c.down[n] && !slices.Contains(off, n) {
				off = append(off, n)
			}
		}
	}
	slices.Sort(off)
	for _, n := range off {
		c.cluster.SetNodeHealthy(n, false)
	}
	f()
	for _, n := range off {
		c.cluster.SetNodeHealthy(n, true)
	}
}

// reserve gives a blocked gang a reservation, or refreshes it: its plan is
// kept while nothing it depends on moved (placements and node health on
// its models, the reservations ahead of it). Jobs waiting on the
// reservation are woken when its nodes or start change. Only the first
// Config.MaxReservations gangs in queue order hold one.
func (c *Core) reserve(e *entry) {
	r := c.resvOf(e)
	stamp := c.startStamp(e)
	if r != nil && r.stamp == stamp && r.gen == c.resvGen {
		return
	}
	var ahead_ []*reservation
	for _, x := range c.resv {
		if x.job != e && ahead(x.job, e) {
			ahead_ = append(ahead_, x)
		}
	}
	if len(ahead_) >= c.cfg.MaxReservations {
		c.dropReservation(e)
		return
	}
	p, start := c.plan(e, ahead_)
	if p == nil {
		c.dropReservation(e)
		return
	}
	if r == nil {
		r = &reservation{job: e, progress: c.now}
		c.resv = append(c.resv, r)
		slices.SortFunc(c.resv, func(a, b *reservation) int {
			if ahead(a.job, b.job) {
				return -1
			}
			if ahead(b.job, a.job) {
				return 1
			}
			return 0
		})
		if len(c.resv) > c.cfg.MaxReservations {
			c.dropReservation(c.resv[len(c.resv)-1].job)
		}
	}
	nodes := map[model.NodeID]bool{}
	var models []string
	for _, a := range p.Assignments {
		nodes[a.Node] = true
		if !slices.Contains(models, a.Model) {
			models = append(models, a.Model)
		}
	}
	slices.Sort(models)
	moved := !maps.Equal(nodes, r.nodes)
	if moved {
		c.unindex(r)
		r.nodes, r.models, r.first = nodes, models, p.Assignments[0].Node
		for n := range nodes {
			c.resvOn[n] = append(c.resvOn[n], r)
		}
		c.resvGen++
	}
	r.stamp, r.gen = stamp, c.resvGen
	e.reservedFrom = start
	if moved || r.start != start {
		r.start = start
		c.wake(e.reservedClass())
	}
	if moved {
		// Plans behind this one that overlap it move now: plans are
		// disjoint.
		for _, x := range slices.Clone(c.resv) {
			if x != r && ahead(e, x.job) && overlapping(r, x) && c.resvOf(x.job) == x {
				x.gen = c.resvGen + 1
				c.reserve(x.job)
			}
		}
	}
}

func overlapping(a, b *reservation) bool {
	for n := range a.nodes {
		if b.nodes[n] {
			return true
		}
	}
	return false
}

// unindex takes a reservation out of resvOn.
func (c *Core) unindex(r *reservation) {
	for n := range r.nodes {
		rs := slices.DeleteFunc(c.resvOn[n], func(x *reservation) bool { return x == r })
		if len(rs) == 0 {
			delete(c.resvOn, n)
		} else {
			c.resvOn[n] = rs
		}
	}
}

// dropReservation ends a job's reservation (placed, cancelled, refused,
// crowded out) and wakes the jobs that waited behind it.
func (c *Core) dropReservation(e *entry) {
	for i, r := range c.resv {
		if r.job == e {
			e.reservedFrom = 0
			c.unindex(r)
			c.resvGen++
			c.resv = slices.Delete(c.resv, i, i+1)
			c.wake(e.reservedClass())
			return
		}
	}
}

// progressed records that a job on these nodes ended: the reservations
// planned there make progress.
func (c *Core) progressed(p *model.Placement) {
	for _, a := range p.Assignments {
		for _, r := range c.resvOn[a.Node] {
			r.progress = c.now
			r.stale = false
		}
	}
}

// refreshReservations re-plans reservations whose expected start has
// passed without the gang starting (jobs overran their declared runtime),
// and lets those without progress for Config.ReservationPatienceSec stop
// holding jobs back.
func (c *Core) refreshReservations() {
	for _, r := range slices.Clone(c.resv) {
		if r.start >= 0 && r.start < c.now {
			r.gen = c.resvGen + 1 // re-plan
			c.reserve(r.job)
			if e := r.job; e.st.ReservedFrom != e.reservedFrom && e.st.State == model.Blocked {
				e.st.ReservedFrom = e.reservedFrom
				c.touch(e)
			}
		}
		if stale := c.now-r.progress > c.cfg.ReservationPatienceSec; stale && !r.stale {
			r.stale = true
			c.wake(r.job.reservedClass())
		}
	}
}

// demand is what a job needs in the unit its reservation counts:
// thousandths of a card, or GFLOPS for a compute request.
func (e *entry) demand() int64 {
	j := &e.job
	if e.byGFLOPS {
		eff := int64(j.EfficiencyMilli)
		if eff <= 0 {
			eff = 1000
		}
		return j.ComputeGFLOPS * 1000 / eff
	}
	if j.Fractional() {
		return int64(j.Workers) * int64(j.ShareMilli)
	}
	return int64(j.Cards()) * model.MilliCard
}

// amount converts per-model thousandths of a card into e's unit, counting
// only the models e can use.
func (c *Core) amount(e *entry, modelMilli map[string]int64) int64 {
	var t int64
	for m, milli := range modelMilli {
		if !c.canUse(e, m) {
			continue
		}
		if e.byGFLOPS {
			t += milli * c.fp16[m] / model.MilliCard
		} else {
			t += milli
		}
	}
	return t
}

// amountOf is amount for a placed job's usage.
func (c *Core) amountOf(e *entry, u *usage) int64 {
	var t int64
	for _, x := range u.models {
		if !c.canUse(e, x.model) {
			continue
		}
		if e.byGFLOPS {
			t += x.milli * c.fp16[x.model] / model.MilliCard
		} else {
			t += x.milli
		}
	}
	return t
}

// moved records a change to placements or node health on these models
// that can move reservations' expected starts.
func (c *Core) moved(models map[string]int64) {
	c.startGen++
	for m := range models {
		i, ok := c.modelIdx[m]
		if !ok {
			continue // no job names it: only jobs of any model count it (startGen)
		}
		for int(i) >= len(c.modelGen) {
			c.modelGen = append(c.modelGen, 0)
		}
		c.modelGen[i]++
	}
}

// startStamp changes whenever something the job's expected start depends
// on may have moved: placements and node health on the models it can use
// (on any model, for a job of any model). Counts only grow, so their sum
// changes when any of them does; it is never 0 for a job of named models.
func (c *Core) startStamp(e *entry) uint64 {
	if e.anyModel {
		return c.startGen
	}
	stamp := uint64(1)
	for w, word := range e.models {
		for word != 0 {
			i := w*64 + bits.TrailingZeros64(word)
			word &= word - 1
			if i < len(c.modelGen) {
				stamp += c.modelGen[i]
			}
		}
	}
	return stamp
}

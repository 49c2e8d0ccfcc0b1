package core

import (
	"maps"
	"math"
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
	idx    []int32      // the nodes' cluster indexes, for masked
	first  model.NodeID // the plan's first node, for explanations
	models []string
	// stamp and gen are the resvStamp and aheadStamp the plan was made
	// at: it is kept while both hold (gen 0: re-plan). ver numbers the
	// plan's nodes (from Core.resvGen): it changes when they do.
	stamp, gen, ver uint64
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

// canUseAmount is canUse for a usage's model, whose modelIdx number it
// remembers once the model has one.
func (c *Core) canUseAmount(e *entry, x *modelAmount) bool {
	if e.anyModel {
		return true
	}
	if x.ix == 0 {
		i, ok := c.modelIdx[x.model]
		if !ok {
			return false
		}
		x.ix = uint32(i) + 1
	}
	i := uint(x.ix - 1)
	return int(i/64) < len(e.models) && e.models[i/64]&(1<<(i%64)) != 0
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
// core's cluster (marked unhealthy), and puts back those it took out (not
// the ones already out: down, or in two plans).
func (c *Core) masked(rs []*reservation, f func()) {
	c.maskWith(rs, false, f)
}

// maskedFree is masked for an f that only asks where a job would go now,
// changing nothing: the reserved nodes with nothing free (most: a gang
// reserves the nodes it waits for) are left in, since no job can be
// placed on them anyway and only the health of the nodes it can take
// matters to a placement. (A plan, which releases running jobs inside f,
// must mask them all.)
func (c *Core) maskedFree(rs []*reservation, f func()) {
	c.maskWith(rs, true, f)
}

func (c *Core) maskWith(rs []*reservation, skipFull bool, f func()) {
	off := c.scratchOff[:0]
	c.scratchOff = nil // taken while f runs
	for _, r := range rs {
		for _, n := range r.idx {
			if skipFull && c.cluster.FullAt(n) {
				continue
			}
			if c.cluster.SetHealthyAt(n, false) {
				off = append(off, n)
			}
		}
	}
	f()
	for _, n := range off {
		c.cluster.SetHealthyAt(n, true)
	}
	c.scratchOff = off[:0]
}

// reserve gives a blocked gang a reservation, or refreshes it: its plan is
// kept while nothing on its nodes changed, no capacity was freed early on
// its models and the reservations ahead of it stayed (resvStamp,
// aheadStamp): placements elsewhere leave it, so a gang waiting behind busy
// nodes is not planned again on every pass (nor one that found no plan,
// noPlanStamp). Jobs waiting on the reservation are woken when its nodes
// or start change. Only the first Config.MaxReservations gangs in queue
// order hold one.
func (c *Core) reserve(e *entry) {
	r := c.resvOf(e)
	if r != nil && r.gen == c.aheadStamp(e) && r.stamp == c.resvStamp(e, r.nodes) {
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
	if r == nil && e.noPlan != 0 && e.noPlan == c.noPlanStamp(e) {
		return // no plan, and nothing that could give one changed
	}
	p, start := c.plan(e, ahead_)
	if p == nil {
		e.noPlan = c.noPlanStamp(e)
		c.dropReservation(e)
		return
	}
	e.noPlan = 0
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
		c.moveReservation(r, nodes, models, p.Assignments[0].Node)
	}
	woke := moved || r.start != start
	r.start = start
	r.stamp, r.gen = c.resvStamp(e, r.nodes), c.aheadStamp(e)
	e.reservedFrom = start
	if woke {
		c.wake(e.reservedClass())
	}
	if moved {
		// Plans behind this one that overlap it move now: plans are
		// disjoint.
		for _, x := range slices.Clone(c.resv) {
			if x != r && ahead(e, x.job) && overlapping(r, x) && c.resvOf(x.job) == x {
				x.gen = 0 // re-plan
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

// moveReservation gives a reservation new nodes (its plan's), indexed in
// resvOn, and a new version.
func (c *Core) moveReservation(r *reservation, nodes map[model.NodeID]bool, models []string, first model.NodeID) {
	c.unindex(r)
	r.nodes, r.models, r.first = nodes, models, first
	r.idx = r.idx[:0]
	for n := range nodes {
		c.resvOn[n] = append(c.resvOn[n], r)
		if i, ok := c.cluster.NodeIndex(n); ok {
			r.idx = append(r.idx, i)
		}
	}
	c.resvGen++
	r.ver = c.resvGen
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
			r.gen = 0 // re-plan
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
	for i := range u.models {
		x := &u.models[i]
		if !c.canUseAmount(e, x) {
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

// changedOn records a placement or release (or a stopped worker's hold)
// on p's nodes of a job expected to end at end (math.MaxInt64: not
// expected to end, or released when not expected): the reservations
// planned there plan again when their gang is next tried, unless the
// change is one their plans foresaw — a job that ends by their start,
// placed there (a backfill) or released at its declared end.
func (c *Core) changedOn(p *model.Placement, end int64) {
	for _, a := range p.Assignments {
		for _, r := range c.resvOn[a.Node] {
			if r.start < 0 || end > r.start {
				r.gen = 0
			}
		}
	}
}

// replanOn makes the reservations planned on a node plan again (its
// health changed).
func (c *Core) replanOn(n model.NodeID) {
	for _, r := range c.resvOn[n] {
		r.gen = 0
	}
}

// endOf is when a job placed at now is expected to end (math.MaxInt64:
// it declared no runtime).
func endOf(e *entry, now int64) int64 {
	if e.job.RuntimeSec <= 0 {
		return math.MaxInt64
	}
	return now + e.job.RuntimeSec
}

// freed records capacity freed on these models earlier than reservations
// expected (or a node back): a gang that can use them may start sooner on
// other nodes than it planned, so its reservation re-plans.
func (c *Core) freed(models []modelAmount) {
	c.freedGen++
	for _, x := range models {
		i, ok := c.modelIdx[x.model]
		if !ok {
			continue // no job names it: only jobs of any model count it (freedGen)
		}
		for int(i) >= len(c.modelGen) {
			c.modelGen = append(c.modelGen, 0)
		}
		c.modelGen[i]++
	}
}

// resvStamp changes whenever the reservation's plan may no longer be the
// one plan would make for a reason other than its nodes (changedOn) and
// the reservations ahead (aheadStamp): capacity was freed early on a model
// the gang can use (on any model, for a gang of any model), the gang's
// tenant changed (tenantStamp), or the policy or the typical tasks did. It
// hashes counts that only grow.
func (c *Core) resvStamp(e *entry, nodes map[model.NodeID]bool) uint64 {
	if c.stampOf != nil {
		return c.stampOf(e, nodes)
	}
	return c.gangStamp(e)
}

// noPlanStamp changes whenever a gang plan found no placement for may
// find one: plan releases every job the gang could wait for, so placements
// and releases do not matter, only what gangStamp counts (capacity freed
// early, a node back, the tenant, the policy, the mix) and the
// reservations ahead, whose nodes it plans around (aheadStamp).
func (c *Core) noPlanStamp(e *entry) uint64 {
	return mix(c.resvStamp(e, nil), c.aheadStamp(e))
}

// aheadStamp identifies the reservations ahead of e and their nodes (the
// nodes plan takes out): it changes when one of them is made, dropped or
// moved. It is never 0.
func (c *Core) aheadStamp(e *entry) uint64 {
	h := mix(14695981039346656037, e.st.Position)
	for _, x := range c.resv {
		if x.job != e && ahead(x.job, e) {
			h = mix(h, x.ver)
		}
	}
	return h | 1
}

// gangStamp is the part of resvStamp that is not the nodes'.
func (c *Core) gangStamp(e *entry) uint64 {
	h := mix(mix(14695981039346656037, c.policyGen), c.tasksGen)
	h = mix(h, c.tenantStamp(e))
	if e.anyModel {
		return mix(h, c.freedGen)
	}
	var freed uint64
	for w, word := range e.models {
		for word != 0 {
			i := w*64 + bits.TrailingZeros64(word)
			word &= word - 1
			if i < len(c.modelGen) {
				freed += c.modelGen[i]
			}
		}
	}
	return mix(h, freed)
}

// tenantStamp is what of the gang's tenant its plan depends on: the
// tenant's record, and what it holds only where that can decide a model —
// a vendor cap, or an FP16 quota the gang's placement could take it over
// (a quota with room for the gang on any model decides nothing).
func (c *Core) tenantStamp(e *entry) uint64 {
	ts := c.tenant(e.job.Tenant)
	h := mix(0, ts.setVer)
	q := ts.t.QuotaGFLOPS
	if len(ts.t.VendorCaps) == 0 && (q <= 0 || !e.byGFLOPS && q-ts.gflops >= c.mostGFLOPS(e)) {
		return h
	}
	return mix(h, ts.ver|1<<63)
}

// mostGFLOPS bounds the FP16 throughput a gang of cards holds on any model
// of the network.
func (c *Core) mostGFLOPS(e *entry) int64 {
	if c.maxFP16 == 0 {
		for _, g := range c.fp16 {
			c.maxFP16 = max(c.maxFP16, g)
		}
		c.maxFP16 = max(c.maxFP16, 1)
	}
	cards := int64(e.job.Cards())
	if e.job.Fractional() {
		cards = int64(e.job.Workers) // a share is at most a card
	}
	return cards * c.maxFP16
}

// mix folds x into the hash h (FNV-1a's step on a whole word).
func mix(h, x uint64) uint64 { return (h ^ x) * 1099511628211 }

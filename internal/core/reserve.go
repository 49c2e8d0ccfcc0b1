package core

import (
	"cmp"
	"math/bits"
	"slices"

	"github.com/suanli/suanli/internal/model"
)

// reservation holds capacity for a blocked head-of-line gang: jobs queued
// behind it that would use the same models may only backfill, that is run
// if their declared runtime ends before the gang's expected start.
type reservation struct {
	job *entry
	// start is when enough of the gang's capacity is expected to be free,
	// from the declared runtimes of the jobs holding it; -1 when some of it
	// is held by jobs that declared none (then nothing backfills).
	start int64
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

// reservationAhead returns the first reservation, held by a job ahead of e,
// on models e could use.
func (c *Core) reservationAhead(e *entry) *reservation {
	for _, r := range c.resv {
		if r.job != e && ahead(r.job, e) && overlaps(r.job, e) {
			return r
		}
	}
	return nil
}

// reserve gives a blocked gang a reservation, or refreshes its expected
// start; jobs waiting on the reservation are woken when it changes.
func (c *Core) reserve(e *entry) {
	if c.reservationAhead(e) != nil {
		return // not the head of its line
	}
	start := c.expectedStart(e)
	e.reservedFrom = start
	for _, r := range c.resv {
		if r.job == e {
			if r.start != start {
				r.start = start
				c.wake(e.reservedClass())
			}
			return
		}
	}
	c.resv = append(c.resv, &reservation{job: e, start: start})
	slices.SortFunc(c.resv, func(a, b *reservation) int {
		if ahead(a.job, b.job) {
			return -1
		}
		if ahead(b.job, a.job) {
			return 1
		}
		return 0
	})
}

// dropReservation ends a job's reservation (placed, cancelled) and wakes
// the jobs that waited behind it.
func (c *Core) dropReservation(e *entry) {
	for i, r := range c.resv {
		if r.job == e {
			e.reservedFrom = 0
			c.resv = slices.Delete(c.resv, i, i+1)
			c.wake(e.reservedClass())
			return
		}
	}
}

// refreshReservations re-estimates reservations whose expected start has
// passed without the gang starting (jobs overran their declared runtime).
func (c *Core) refreshReservations() {
	for _, r := range c.resv {
		if r.start >= 0 && r.start < c.now {
			if s := c.expectedStart(r.job); s != r.start {
				r.start = s
				r.job.reservedFrom, r.job.st.ReservedFrom = s, s
				c.touch(r.job)
				c.wake(r.job.reservedClass())
			}
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

// expectedStart estimates when the capacity a gang needs will be free:
// now if it is (fragmentation blocks it, not a shortage), else the end of
// the running job whose release completes it, by declared runtimes.
//
// The estimate is kept until placements on models the gang can use change
// other than by a job ending at its declared end, which leaves every later
// release where it was (startStamp).
func (c *Core) expectedStart(e *entry) int64 {
	stamp := c.startStamp(e)
	if e.startGen == stamp && e.startGen != 0 {
		if e.startAt < 0 {
			return -1
		}
		return max(e.startAt, c.now)
	}
	at := c.estimateStart(e)
	e.startGen, e.startAt = stamp, at
	return at
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

func (c *Core) estimateStart(e *entry) int64 {
	have, need := c.amount(e, c.freeByModel()), e.demand()
	if have >= need {
		return c.now
	}
	rel := c.scratchRel[:0]
	for _, set := range c.placed { // any order: sorted below
		for _, r := range set {
			if r == e || r.job.RuntimeSec <= 0 || !overlaps(r, e) {
				continue
			}
			amt := c.amountOf(e, &r.use)
			if amt > 0 && c.healthy(r.st.Placement) {
				rel = append(rel, release{at: r.placedAt + r.job.RuntimeSec, pos: r.st.Position, amt: amt})
			}
		}
	}
	c.scratchRel = rel[:0]
	slices.SortFunc(rel, func(a, b release) int { return cmp.Or(cmp.Compare(a.at, b.at), cmpUint(a.pos, b.pos)) })
	for _, r := range rel {
		have += r.amt
		if have >= need {
			return max(r.at, c.now)
		}
	}
	return -1
}

// release is capacity a placed job frees at its declared end.
type release struct {
	at  int64
	pos uint64
	amt int64
}

package core

import (
	"cmp"
	"slices"

	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/sched"
)

// preempt tries to place e by stopping lower-priority jobs. Victims are
// whole jobs — a gang is stopped whole, never in part — chosen from the
// lowest priority class up: within the classes allowed, the largest first
// (fewest victims), then the least work lost since their last checkpoint,
// then the newest. A found set is then trimmed of every victim the
// placement does not need. It reports whether e was placed.
//
// It costs nothing when the capacity lower priorities hold on e's models,
// with what is free, falls short of what e needs: the core keeps what each
// priority holds per model (prioMilli).
func (c *Core) preempt(e *entry) bool {
	need := e.demand()
	have := c.amount(e, c.freeByModel())
	if !c.lowerCanCover(e, have, need) {
		return false
	}
	cands := c.scratchCands[:0]
	amt := c.scratchAmt
	clear(amt)
	for p, set := range c.placed {
		if p >= e.job.Priority {
			continue
		}
		for _, v := range set {
			if !overlaps(v, e) {
				continue
			}
			if a := c.amountOf(e, &v.use); a > 0 {
				amt[v] = a
				cands = append(cands, victimKey{v: v, amt: a, lost: c.lostWork(v)})
			}
		}
	}
	defer func() {
		clear(cands)
		c.scratchCands = cands[:0]
	}()
	if len(cands) == 0 {
		return false
	}
	slices.SortFunc(cands, func(a, b victimKey) int {
		return cmp.Or(
			cmp.Compare(b.amt, a.amt),
			cmp.Compare(a.lost, b.lost),
			cmpUint(b.v.st.Position, a.v.st.Position),
		)
	})
	var prios []int
	for p := range c.placed {
		if p < e.job.Priority {
			prios = append(prios, p)
		}
	}
	slices.Sort(prios)
	pool := make([]*entry, 0, min(len(cands), c.cfg.PreemptCandidates))
	for _, p := range prios {
		pool = pool[:0]
		for _, k := range cands {
			if v := k.v; v.job.Priority <= p {
				pool = append(pool, v)
				if len(pool) == c.cfg.PreemptCandidates {
					break
				}
			}
		}
		if !slices.ContainsFunc(pool, func(v *entry) bool { return v.job.Priority == p }) {
			continue // the pool is the previous class's, which failed
		}
		if victims, d := c.victims(e, pool, amt, have, need); d != nil {
			for _, v := range victims {
				c.unplace(v, StopPreempted, e.job.ID)
				c.requeue(v, StopPreempted)
			}
			if c.commitCheck(e, d.Placement) == "" {
				d.Explanation.Summary = "preempted " + victimList(victims) + "; " + d.Explanation.Summary
				e.st.Decision = d
				return true
			}
			return false // cannot happen: the placement was found with these victims gone
		}
	}
	return false
}

// victimKey is a preemption candidate with what it is sorted by: the
// capacity it would free for the job, the work it would lose.
type victimKey struct {
	v         *entry
	amt, lost int64
}

// lowerCanCover reports whether the capacity held by priorities below e's
// on e's models, with have (free, in e's unit), could reach need.
func (c *Core) lowerCanCover(e *entry, have, need int64) bool {
	for p, held := range c.prioMilli {
		if have >= need {
			return true
		}
		if p < e.job.Priority {
			have += c.amount(e, held)
		}
	}
	return have >= need
}

// freeByModel is the free capacity per model, in thousandths of a card,
// in a map the core reuses.
func (c *Core) freeByModel() map[string]int64 {
	free := c.scratchFree
	clear(free)
	for m, milli := range c.capMilli {
		free[m] = milli - c.usedMilli[m]
	}
	return free
}

// victims finds the shortest prefix of pool whose release lets e be placed,
// then drops every victim the placement does not need. have is what is free
// of e's models, need what e needs, in e's unit (amount, demand).
//
// The trial releases victims on the core's own cluster and restores it
// before returning (sched.Cluster.Mark, Restore): no copy of the cluster
// is made. Placing is
// monotone in what is released (more free capacity, less held against the
// tenant's quota), so the shortest prefix is found by bisection, and a
// prefix or a trimmed set whose capacity falls short of need is not tried.
func (c *Core) victims(e *entry, pool []*entry, amt map[*entry]int64, have, need int64) ([]*entry, *sched.Decision) {
	total := have
	k0 := -1 // the shortest prefix with enough capacity
	for i, v := range pool {
		total += amt[v]
		if k0 < 0 && total >= need {
			k0 = i + 1
		}
	}
	if k0 < 0 {
		return nil, nil // not enough even with every candidate stopped
	}
	t := trial{c: c, pool: pool}
	c.cluster.Mark()
	defer c.cluster.Restore() // every candidate still released back where it was
	try := func(k int) *sched.Decision {
		t.to(k)
		chosen := t.chosen()
		d := sched.Brief(c.cluster, &e.job, c.input(e, chosen), c.cfg.Sched)
		if d.Placement != nil && c.tenantFits(e, chosen, d.Placement) {
			return &d
		}
		return nil
	}
	k, pl := k0, try(k0)
	if pl == nil && k0 < len(pool) {
		lo, hi := k0, len(pool) // lo fails; hi is tried next
		if hp := try(hi); hp != nil {
			pl = hp
			for hi-lo > 1 {
				mid := lo + (hi-lo)/2
				if d := try(mid); d != nil {
					hi, pl = mid, d
				} else {
					lo = mid
				}
			}
			k = hi
		}
	}
	if pl == nil {
		return nil, nil
	}
	t.to(k)
	chosen := slices.Clone(t.chosen())
	have = total
	for _, v := range pool[k:] {
		have -= amt[v]
	}
	// Trim: give back each victim, smallest first, if e still fits.
	for i := len(chosen) - 1; i >= 0 && len(chosen) > 1; i-- {
		v := chosen[i]
		if have-amt[v] < need {
			continue // e cannot fit without it
		}
		if err := c.cluster.ApplyAt(v.st.Placement, v.use.nodes); err != nil {
			continue
		}
		rest := slices.Delete(slices.Clone(chosen), i, i+1)
		d := sched.Brief(c.cluster, &e.job, c.input(e, rest), c.cfg.Sched)
		if d.Placement != nil && c.tenantFits(e, rest, d.Placement) {
			chosen, pl = rest, &d
			have -= amt[v]
			t.kept(v)
			continue
		}
		_ = c.cluster.ReleaseAt(v.st.Placement, v.use.nodes)
	}
	return chosen, pl
}

// trial releases a prefix of the candidates on the core's cluster, in
// place; victims restores the cluster when done.
type trial struct {
	c        *Core
	pool     []*entry
	released []*entry // in release order; nil where a release failed
	n        int      // pool[:n] have been visited
}

// to releases or re-applies candidates until pool[:k] are released.
func (t *trial) to(k int) {
	for t.n < k {
		v := t.pool[t.n]
		if err := t.c.cluster.ReleaseAt(v.st.Placement, v.use.nodes); err != nil {
			v = nil
		}
		t.released = append(t.released, v)
		t.n++
	}
	for t.n > k {
		t.n--
		if v := t.released[t.n]; v != nil {
			_ = t.c.cluster.ApplyAt(v.st.Placement, v.use.nodes)
		}
		t.released = t.released[:t.n]
	}
}

// chosen lists the released candidates.
func (t *trial) chosen() []*entry {
	out := make([]*entry, 0, len(t.released))
	for _, v := range t.released {
		if v != nil {
			out = append(out, v)
		}
	}
	return out
}

// kept records that a released candidate was applied again (trimmed).
func (t *trial) kept(v *entry) {
	if i := slices.Index(t.released, v); i >= 0 {
		t.released[i] = nil
	}
}

// tenantFits checks a placement against e's tenant's quota and caps with
// the victims' holdings given back.
func (c *Core) tenantFits(e *entry, victims []*entry, p *model.Placement) bool {
	ts := *c.tenant(e.job.Tenant)
	ts.vendorMilli = maps0(ts.vendorMilli)
	for _, v := range victims {
		if v.job.Tenant == e.job.Tenant {
			ts.add(v.use, -1)
		}
	}
	return ts.fits(c.usageOf(e, p)) && c.allowed(e, p)
}

// lostWork is how much work a victim would lose: seconds since its last
// checkpoint, or since it was placed.
func (c *Core) lostWork(v *entry) int64 {
	return c.now - max(v.placedAt, v.job.CheckpointTime)
}

func victimList(vs []*entry) string {
	ids := make([]string, len(vs))
	for i, v := range vs {
		ids[i] = string(v.job.ID)
	}
	slices.Sort(ids)
	s := ""
	for i, id := range ids {
		if i > 0 {
			s += ", "
		}
		s += id
	}
	return s
}

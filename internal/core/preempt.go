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
func (c *Core) preempt(e *entry) bool {
	var cands []*entry
	for p, set := range c.placed {
		if p >= e.job.Priority {
			continue
		}
		for _, v := range set {
			if overlaps(v.classes, e.classes) {
				cands = append(cands, v)
			}
		}
	}
	if len(cands) == 0 {
		return false
	}
	amt := make(map[*entry]int64, len(cands))
	for _, v := range cands {
		amt[v] = c.amount(e, v.use.modelMilli)
	}
	cands = slices.DeleteFunc(cands, func(v *entry) bool { return amt[v] == 0 })
	slices.SortFunc(cands, func(a, b *entry) int {
		return cmp.Or(
			cmp.Compare(amt[b], amt[a]),
			cmp.Compare(c.lostWork(a), c.lostWork(b)),
			cmpUint(b.st.Position, a.st.Position),
		)
	})
	var prios []int
	for _, v := range cands {
		prios = append(prios, v.job.Priority)
	}
	slices.Sort(prios)
	prios = slices.Compact(prios)
	for _, p := range prios {
		var pool []*entry
		for _, v := range cands {
			if v.job.Priority <= p {
				pool = append(pool, v)
			}
		}
		if len(pool) > c.cfg.PreemptCandidates {
			pool = pool[:c.cfg.PreemptCandidates]
		}
		if victims, d := c.victims(e, pool, amt); d != nil {
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

// victims finds the victims in pool, taken in order, whose release lets e
// be placed, then drops every one the placement does not need.
func (c *Core) victims(e *entry, pool []*entry, amt map[*entry]int64) ([]*entry, *sched.Decision) {
	free := map[string]int64{}
	for m, milli := range c.capMilli {
		free[m] = milli - c.usedMilli[m]
	}
	have, need := c.amount(e, free), e.demand()
	total := have
	for _, v := range pool {
		total += amt[v]
	}
	if total < need {
		return nil, nil // not enough even with every candidate stopped
	}
	trial := c.cluster.Clone()
	var chosen []*entry
	var pl *sched.Decision
	for _, v := range pool {
		if err := trial.Release(*v.st.Placement); err != nil {
			continue
		}
		chosen = append(chosen, v)
		have += amt[v]
		if have < need {
			continue
		}
		d := sched.Schedule(trial, &e.job, c.input(e, chosen), c.cfg.Sched)
		if d.Placement != nil && c.tenantFits(e, chosen, d.Placement) {
			pl = &d
			break
		}
	}
	if pl == nil {
		return nil, nil
	}
	// Trim: give back each victim, smallest first, if e still fits.
	for i := len(chosen) - 1; i >= 0 && len(chosen) > 1; i-- {
		v := chosen[i]
		if err := trial.Apply(*v.st.Placement); err != nil {
			continue
		}
		rest := slices.Delete(slices.Clone(chosen), i, i+1)
		d := sched.Schedule(trial, &e.job, c.input(e, rest), c.cfg.Sched)
		if d.Placement != nil && c.tenantFits(e, rest, d.Placement) {
			chosen, pl = rest, &d
			continue
		}
		_ = trial.Release(*v.st.Placement)
	}
	return chosen, pl
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
	return ts.fits(usageOf(c.net, p)) && c.allowed(e, p)
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

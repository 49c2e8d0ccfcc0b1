package core

import (
	"cmp"
	"math"
	"slices"

	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/sched"
)

// plan finds where a blocked gang would start and when: the placement the
// scheduler picks on the future-free snapshot — the core's cluster with the
// jobs that could free the gang's capacity released in the order they are
// expected to end (declared runtimes first, by their end, then the others
// in queue order), as few as it takes, and the nodes of the reservations
// ahead of it taken out. The start is when the last job holding a card of
// the planned nodes is expected to end (-1 when one of them declared no
// runtime; now when none holds one). It returns a nil placement when the
// gang would not fit even then.
//
// The jobs are released on the core's own cluster and applied again
// before returning: no copy of the cluster is made. The scheduler is asked
// once enough capacity is released, then after every doubling of what is
// released: O(log n) decisions for n running jobs.
func (c *Core) plan(e *entry, ahead []*reservation) (*model.Placement, int64) {
	c.plans++
	rel := c.releasable(e)
	have, need := c.amount(e, c.freeByModel()), e.demand()
	var p *model.Placement
	k := 0
	c.masked(ahead, func() {
		try := func() bool {
			d := sched.Schedule(c.cluster, &e.job, c.input(e, nil), c.cfg.Sched)
			p = d.Placement
			return p != nil
		}
		next := 1 // jobs to release before the next try, once have ≥ need
		for {
			if have >= need && try() {
				break
			}
			if k == len(rel) {
				break
			}
			n := 1
			if have >= need {
				n, next = next, next*2
			}
			for ; n > 0 && k < len(rel); n-- {
				_ = c.cluster.Release(*rel[k].st.Placement) // the core applied it
				have += c.amountOf(e, &rel[k].use)
				k++
			}
		}
		for i := k - 1; i >= 0; i-- {
			_ = c.cluster.Apply(*rel[i].st.Placement) // it was there a moment ago
		}
	})
	start := c.now
	if p != nil {
		on := map[model.NodeID]bool{}
		for _, a := range p.Assignments {
			on[a.Node] = true
		}
		for _, r := range rel[:k] {
			if !slices.ContainsFunc(r.st.Placement.Assignments, func(a model.Assignment) bool { return on[a.Node] }) {
				continue
			}
			if end(r) == math.MaxInt64 {
				start = -1
				break
			}
			start = max(start, end(r))
		}
	}
	clear(rel)
	c.scratchPlan = rel[:0]
	return p, start
}

// planKey is a placed job with its expected end, for sorting.
type planKey struct {
	end int64
	pos uint64
	e   *entry
}

// releasable lists the placed jobs that could free capacity for e (they
// can use a model in common, on healthy nodes) in the order they are
// expected to end: declared runtimes first, by their end, then the others
// in queue order. The slice is scratch, valid until the next call.
func (c *Core) releasable(e *entry) []*entry {
	keys := c.scratchKeys[:0]
	anyDown := len(c.down) > 0
	for _, set := range c.placed { // any order: sorted below
		for _, r := range set {
			if r != e && overlaps(r, e) && (!anyDown || c.healthy(r.st.Placement)) {
				keys = append(keys, planKey{end: end(r), pos: r.st.Position, e: r})
			}
		}
	}
	slices.SortFunc(keys, func(a, b planKey) int { return cmp.Or(cmp.Compare(a.end, b.end), cmpUint(a.pos, b.pos)) })
	rel := c.scratchPlan[:0]
	for i := range keys {
		rel = append(rel, keys[i].e)
		keys[i].e = nil
	}
	c.scratchKeys = keys[:0]
	return rel
}

// end is when a placed job is expected to end (math.MaxInt64: it declared
// no runtime).
func end(r *entry) int64 {
	if r.job.RuntimeSec <= 0 {
		return math.MaxInt64
	}
	return r.placedAt + r.job.RuntimeSec
}

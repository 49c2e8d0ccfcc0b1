package core

import (
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
// The jobs are released on the core's own cluster, marked before
// (sched.Cluster.Mark), and its nodes restored before returning (Restore):
// no copy of the cluster is made, and the nodes released from are put back
// each in one copy, with their fragmentation caches. The scheduler is asked
// once enough capacity is released, then after every doubling of what is
// released: O(log n) decisions for n running jobs. What is released
// between two tries goes as one batch (sched.Cluster.ChangeAll): a node is
// re-indexed once a batch.
func (c *Core) plan(e *entry, ahead []*reservation) (*model.Placement, int64) {
	c.plans++
	c.order.merge()
	keys, i := c.order.sorted, 0
	anyDown := len(c.down) > 0
	// next is the next job that could free capacity for e (it can use a
	// model in common, on healthy nodes), nil after the last.
	next := func() *entry {
		for i < len(keys) {
			k := &keys[i]
			i++
			if k.e != e && overlapsKey(k, e) && (!anyDown || c.healthy(k.e.st.Placement)) {
				return k.e
			}
		}
		return nil
	}
	rel := c.order.rel[:0]
	have, need := c.amount(e, c.freeByModel()), e.demand()
	var p *model.Placement
	c.masked(ahead, func() {
		c.cluster.Mark()
		try := func() bool {
			p = sched.Placement(c.cluster, &e.job, c.input(e, nil), c.cfg.Sched)
			return p != nil
		}
		take := func() bool { // the next job, counted; false after the last
			r := next()
			if r == nil {
				return false
			}
			have += c.amountOf(e, &r.use)
			rel = append(rel, r)
			return true
		}
		batch := 1 // jobs to release before the next try, once have ≥ need
		for {
			if have >= need && try() {
				break
			}
			from := len(rel)
			if have >= need {
				for n := batch; n > 0 && take(); n-- {
				}
				batch *= 2
			} else {
				for have < need && take() {
				}
			}
			if len(rel) == from {
				break
			}
			c.cluster.ChangeAll(-1, len(rel)-from, func(i int) (*model.Placement, []int32) {
				r := rel[from+i]
				return r.st.Placement, r.use.nodes // the core applied it
			})
		}
		c.cluster.Restore() // every released job back where it was
	})
	start := c.planStart(p, rel)
	clear(rel)
	c.order.rel = rel[:0]
	return p, start
}

// planStart is when a planned placement p can start: when the last of the
// released jobs holding a card of its nodes is expected to end (-1 when
// one of them declared no runtime; now when none holds one).
func (c *Core) planStart(p *model.Placement, rel []*entry) int64 {
	start := c.now
	if p == nil {
		return start
	}
	// The plan's nodes, marked by cluster index: a released job's
	// use.nodes are its assignments' nodes' indexes.
	on := c.order.on
	for _, a := range p.Assignments {
		if n, ok := c.cluster.NodeIndex(a.Node); ok { // the scheduler's: it exists
			if int(n) >= len(on) {
				on = append(on, make([]bool, int(n)+1-len(on))...)
			}
			on[n] = true
		}
	}
	c.order.on = on
	for _, r := range rel {
		if !slices.ContainsFunc(r.use.nodes, func(n int32) bool { return int(n) < len(on) && on[n] }) {
			continue
		}
		if end(r) == math.MaxInt64 {
			start = -1
			break
		}
		start = max(start, end(r))
	}
	for _, a := range p.Assignments {
		if n, ok := c.cluster.NodeIndex(a.Node); ok {
			on[n] = false
		}
	}
	return start
}

// end is when a placed job is expected to end (math.MaxInt64: it declared
// no runtime).
func end(r *entry) int64 {
	if r.job.RuntimeSec <= 0 {
		return math.MaxInt64
	}
	return r.placedAt + r.job.RuntimeSec
}

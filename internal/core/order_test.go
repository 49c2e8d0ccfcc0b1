package core

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/sched"
)

// planSlow is plan as it was before planOrder kept the release order: it
// lists and sorts every placed job on every call. It is the reference the
// kept order and plan's shortcuts are checked against.
func (c *Core) planSlow(e *entry, ahead []*reservation) (*model.Placement, int64) {
	var rel []*entry
	for _, set := range c.placed {
		for _, r := range set {
			if r != e && overlaps(r, e) && (len(c.down) == 0 || c.healthy(r.st.Placement)) {
				rel = append(rel, r)
			}
		}
	}
	slices.SortFunc(rel, func(a, b *entry) int {
		return cmp.Or(cmp.Compare(end(a), end(b)), cmpUint(a.st.Position, b.st.Position))
	})
	have, need := c.amount(e, c.freeByModel()), e.demand()
	var p *model.Placement
	k := 0
	c.masked(ahead, func() {
		next := 1
		for {
			if have >= need {
				d := sched.Schedule(c.cluster, &e.job, c.input(e, nil), c.cfg.Sched)
				if p = d.Placement; p != nil {
					break
				}
			}
			if k == len(rel) {
				break
			}
			n := 1
			if have >= need {
				n, next = next, next*2
			}
			for ; n > 0 && k < len(rel); n-- {
				_ = c.cluster.Release(*rel[k].st.Placement)
				have += c.amountOf(e, &rel[k].use)
				k++
			}
		}
		for i := k - 1; i >= 0; i-- {
			_ = c.cluster.Apply(*rel[i].st.Placement)
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
	return p, start
}

// amountOfSlow is amountOf looking every model up by name (canUse), as
// before usages remembered their models' numbers.
func amountOfSlow(c *Core, e *entry, u *usage) int64 {
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

// checkOrder checks that the kept order, merged, is every placed job once,
// sorted as plan releases them.
func checkOrder(t *testing.T, c *Core, at int) {
	t.Helper()
	var want []*entry
	for _, set := range c.placed {
		want = append(want, set...)
	}
	slices.SortFunc(want, func(a, b *entry) int {
		return cmp.Or(cmp.Compare(end(a), end(b)), cmpUint(a.st.Position, b.st.Position))
	})
	c.order.merge()
	var got []*entry
	for i := range c.order.sorted {
		k := &c.order.sorted[i]
		if !c.order.live(k) || k.end != end(k.e) || k.pos != k.e.st.Position {
			t.Fatalf("event %d: key %d (job %s) is stale or out of date after a merge", at, i, k.e.job.ID)
		}
		got = append(got, k.e)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("event %d: kept order has %d jobs, sorting the placed ones %d, or another order", at, len(got), len(want))
	}
}

// Plans made from the kept release order are the plans made by sorting
// every placed job again (planSlow), for every waiting gang after every
// event of random streams with node losses, declared and undeclared
// runtimes, jobs of one model and of any; and amountOf, which remembers
// models' numbers, is amountOfSlow for each gang and placed job.
func TestPlanOrderMatchesSorting(t *testing.T) {
	plans := 0
	for seed := uint64(1); seed <= 12; seed++ {
		net := propNetwork(t)
		c := New(net, Config{})
		r := &randomEvents{rng: rand.New(rand.NewPCG(seed, 11)), net: net}
		events := r.tenants()
		for range 400 {
			events = append(events, r.next())
		}
		for i, ev := range events {
			_ = c.Step(ev)
			for c.HasReady() {
				c.Advance(c.Ready())
			}
			checkOrder(t, c, i)
			ids := make([]model.JobID, 0, len(c.jobs))
			for id, e := range c.jobs {
				if e.job.Kind == model.Gang && e.st.Placement == nil && !e.st.State.Terminal() {
					ids = append(ids, id)
				}
			}
			slices.Sort(ids)
			for _, id := range ids {
				e := c.jobs[id]
				var ahead_ []*reservation
				for _, x := range c.resv {
					if x.job != e && ahead(x.job, e) {
						ahead_ = append(ahead_, x)
					}
				}
				for _, set := range c.placed {
					for _, r := range set {
						if got, want := c.amountOf(e, &r.use), amountOfSlow(c, e, &r.use); got != want {
							t.Fatalf("seed %d event %d: %s's amount of %s's usage is %d, by model name %d", seed, i, id, r.job.ID, got, want)
						}
					}
				}
				p, start := c.plan(e, ahead_)
				q, qstart := c.planSlow(e, ahead_)
				if planString(p) != planString(q) || start != qstart {
					t.Fatalf("seed %d event %d: gang %s planned %s from %d, by sorting %s from %d",
						seed, i, id, planString(p), start, planString(q), qstart)
				}
				if p != nil {
					plans++
				}
			}
		}
	}
	if plans < 1000 {
		t.Fatalf("only %d plans compared", plans)
	}
}

func planString(p *model.Placement) string {
	if p == nil {
		return "none"
	}
	return placementString(p)
}

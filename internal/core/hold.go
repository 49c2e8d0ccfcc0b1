package core

import (
	"math"
	"slices"

	"github.com/suanli/suanli/internal/model"
)

// Releasing cards. A committed placement that the core stops (cancelled,
// evicted, or requeued because another node of its gang was lost) still
// has workers running on the nodes whose agents must stop them: SIGTERM,
// a grace period, the whole process group gone. Until the agent says they
// are gone, their cards are not free: the core holds them (the node's
// share of the placement, applied to the cluster under a hold) so that no
// new work is placed on cards a stopping worker still uses.
//
// Holds are kept only on nodes whose agent reports its workers
// (NodeReports) and only when Config.ReleaseWithin is set; a hold ends
// with WorkersGone for the job and node, when the node is lost or reports
// no more, or ReleaseWithin after it began (an agent that never says so
// must not hold cards for ever). A preemption hands the victim's cards to
// the preemptor at once: the agent starts the preemptor's workers only
// when the victim's are gone. Holds are not persisted: a new leader starts
// without them, and the agents still start nothing on a card a stopping
// worker holds.

// hold is the part of a stopped placement on one node.
type hold struct {
	p     model.Placement // the node's assignments
	use   []modelAmount   // usage.models
	since int64
}

type holdKey struct {
	job  model.JobID
	node model.NodeID
}

// NodeReports says whether a node's agent reports the end of its workers
// (it is registered and heartbeating): stopped placements then hold the
// node's cards until WorkersGone. Off (the default for every node), and
// for a node that stops reporting, cards are free when the core stops a
// placement.
type NodeReports struct {
	At   int64
	Node model.NodeID
	On   bool
}

// WorkersGone records that a node's agent has no live worker of a job any
// more: the cards its stopped placements held there are free.
type WorkersGone struct {
	At   int64
	Job  model.JobID
	Node model.NodeID
}

func (e NodeReports) time() int64 { return e.At }
func (e WorkersGone) time() int64 { return e.At }

// Hold is one node's cards held for a stopped placement, for the shell
// (which steps WorkersGone when the agent's reports say so).
type Hold struct {
	Job   model.JobID
	Node  model.NodeID
	Since int64
}

// Holds lists the holds in job, node order.
func (c *Core) Holds() []Hold {
	out := make([]Hold, 0, len(c.holds))
	for k, h := range c.holds {
		out = append(out, Hold{Job: k.job, Node: k.node, Since: h.since})
	}
	slices.SortFunc(out, func(a, b Hold) int {
		if a.Job != b.Job {
			if a.Job < b.Job {
				return -1
			}
			return 1
		}
		if a.Node < b.Node {
			return -1
		}
		if a.Node > b.Node {
			return 1
		}
		return 0
	})
	return out
}

// holdStopped holds, on every node that reports its workers, the cards of
// a committed placement being stopped.
func (c *Core) holdStopped(job model.JobID, p *model.Placement) {
	if c.cfg.ReleaseWithin <= 0 || len(c.reports) == 0 {
		return
	}
	byNode := map[model.NodeID][]model.Assignment{}
	var nodes []model.NodeID
	for _, a := range p.Assignments {
		if !c.reports[a.Node] || c.down[a.Node] {
			continue
		}
		if _, ok := byNode[a.Node]; !ok {
			nodes = append(nodes, a.Node)
		}
		byNode[a.Node] = append(byNode[a.Node], a)
	}
	slices.Sort(nodes)
	for _, n := range nodes {
		k := holdKey{job, n}
		if _, ok := c.holds[k]; ok {
			continue // still held for an earlier stop on the same node
		}
		hp := model.Placement{Job: job, Assignments: byNode[n]}
		if c.cluster.Apply(hp) != nil {
			continue // cannot happen: the placement was released just now
		}
		u := c.usage(&hp)
		for _, x := range u.models {
			c.usedMilli[x.model] += x.milli
		}
		c.changedOn(&hp, math.MaxInt64)
		if c.holds == nil {
			c.holds = map[holdKey]*hold{}
		}
		c.holds[k] = &hold{p: hp, use: u.models, since: c.now}
	}
}

// release frees a hold's cards and wakes the jobs that wait for them.
func (c *Core) release(k holdKey) {
	h := c.holds[k]
	if h == nil {
		return
	}
	delete(c.holds, k)
	_ = c.cluster.Release(h.p)
	models := make([]string, 0, len(h.use))
	for _, x := range h.use {
		c.usedMilli[x.model] -= x.milli
		models = append(models, x.model)
	}
	c.changedOn(&h.p, math.MaxInt64)
	c.freed(h.use)
	slices.Sort(models)
	for _, m := range models {
		c.wake(modelClass(m))
	}
	c.wake(classAny)
}

// releaseJob frees every hold of a job (its committed placement is placed
// again: the stop never reached the store).
func (c *Core) releaseJob(job model.JobID) {
	for _, k := range c.holdKeys(func(k holdKey, _ *hold) bool { return k.job == job }) {
		c.release(k)
	}
}

// releaseNode frees every hold on a node.
func (c *Core) releaseNode(node model.NodeID) {
	for _, k := range c.holdKeys(func(k holdKey, _ *hold) bool { return k.node == node }) {
		c.release(k)
	}
}

// releaseExpired frees the holds older than ReleaseWithin.
func (c *Core) releaseExpired() {
	if len(c.holds) == 0 {
		return
	}
	for _, k := range c.holdKeys(func(_ holdKey, h *hold) bool { return c.now-h.since >= c.cfg.ReleaseWithin }) {
		c.release(k)
	}
}

// holdKeys lists the holds that match, sorted (map order must not leak
// into decisions).
func (c *Core) holdKeys(match func(holdKey, *hold) bool) []holdKey {
	var ks []holdKey
	for k, h := range c.holds {
		if match(k, h) {
			ks = append(ks, k)
		}
	}
	slices.SortFunc(ks, func(a, b holdKey) int {
		if a.job != b.job {
			if a.job < b.job {
				return -1
			}
			return 1
		}
		if a.node < b.node {
			return -1
		}
		if a.node > b.node {
			return 1
		}
		return 0
	})
	return ks
}

// setReports applies NodeReports.
func (c *Core) setReports(node model.NodeID, on bool) {
	if on {
		if c.reports == nil {
			c.reports = map[model.NodeID]bool{}
		}
		c.reports[node] = true
		return
	}
	delete(c.reports, node)
	c.releaseNode(node)
}

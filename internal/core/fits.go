package core

import (
	"slices"
	"sort"

	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/sched"
)

// ReasonNeverFits: the job cannot be placed even on the empty network
// (sched.FitsEmpty). A job the network itself rules out is failed with this
// reason; one only the policy rules out is blocked with it, waiting for a
// policy change.
const ReasonNeverFits = string(sched.CanNeverFit)

// maxUnfitMemo bounds the per-shape memo of FitsEmpty verdicts: shapes come
// from jobs.
const maxUnfitMemo = 4096

// neverFits is FitsEmpty under the current policy, remembered per shape
// until the policy changes (the network does not).
func (c *Core) neverFits(e *entry) *sched.Unfit {
	key := e.shape()
	if u, ok := c.unfit[key]; ok {
		return u
	}
	if c.limits == nil {
		c.limits = c.cluster.Limits()
	}
	u := c.limits.FitsEmpty(&e.job, c.policy, c.cfg.Sched)
	if c.unfit == nil || len(c.unfit) >= maxUnfitMemo {
		c.unfit = map[string]*sched.Unfit{}
	}
	c.unfit[key] = u
	return u
}

// unfitDecision explains a job that can never fit.
func unfitDecision(e *entry, u *sched.Unfit) *sched.Decision {
	return &sched.Decision{Job: e.job.ID, Explanation: u.Explanation()}
}

// refuse fails a job the network can never hold: it is not queued, and the
// jobs of its shape woken with it follow (they are refused too).
func (c *Core) refuse(e *entry, u *sched.Unfit) {
	from := e.wokeFrom
	c.unqueue(e)
	c.dropReservation(e)
	e.wokeFrom = nil
	if from != nil {
		c.wakeNext(from)
	}
	e.st.State, e.st.Reason, e.st.Since = model.Failed, ReasonNeverFits, c.now
	e.st.Decision = unfitDecision(e, u)
	e.st.Waits, e.st.ReservedFrom, e.reservedFrom = nil, 0, 0
	c.touch(e)
}

// tryUnfit handles a job that can never fit, in try: refused when the
// network rules it out, blocked until the policy changes when only the
// policy does. It reports whether the job was unfit.
func (c *Core) tryUnfit(e *entry) bool {
	u := c.neverFits(e)
	if u == nil {
		return false
	}
	if !u.Policy {
		c.refuse(e, u)
		return true
	}
	c.dropReservation(e)
	if e.st.Reason != ReasonNeverFits || e.st.Decision == nil || e.st.Decision.Explanation.Summary != u.Text {
		e.st.Decision = unfitDecision(e, u)
	}
	c.block(e, ReasonNeverFits, []string{classPolicy})
	return true
}

// recheckFits runs after a policy change: reservations of gangs that can no
// longer fit end, and the head of every blocked group whose shape can no
// longer fit is retried, so that its explanation says so (the rest of its
// group follows it in the pass).
func (c *Core) recheckFits() {
	clear(c.unfit)
	for _, r := range slices.Clone(c.resv) {
		if c.neverFits(r.job) != nil {
			c.dropReservation(r.job)
			c.retry(r.job)
		}
	}
	keys := make([]string, 0, len(c.groups))
	for k, g := range c.groups {
		if len(g.jobs) > 0 && !slices.Equal(g.waits, []string{classPolicy}) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		g := c.groups[k]
		if g == nil || len(g.jobs) == 0 {
			continue
		}
		if head := g.jobs[0]; c.neverFits(head) != nil {
			c.unqueue(head)
			head.wokeFrom = g
			c.pend(head)
		}
	}
}

// retry puts a blocked job back in the pending set for the next pass.
func (c *Core) retry(e *entry) {
	if e.group == nil {
		return
	}
	c.unqueue(e)
	e.wokeFrom = nil
	c.pend(e)
}

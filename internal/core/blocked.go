package core

import (
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/suanli/suanli/internal/model"
)

// group is a set of blocked jobs of one shape waiting on the same classes,
// in queue position order. Jobs of one shape get the same decision, so a
// wake retries only a group's head; when the head is placed, the next one
// is tried in the same pass, and so on until one fails. A freed node thus
// costs one scheduler call per waiting shape, not one per blocked job.
type group struct {
	key   string
	waits []string
	jobs  []*entry
}

func groupKey(e *entry, reason string, waits []string) string {
	k := e.shape() + "|" + strings.Join(waits, ",")
	if reason == ReasonReserved {
		// Backfill depends on the declared runtime.
		k += "|" + strconv.FormatInt(e.job.RuntimeSec, 10)
	}
	return k
}

// block parks a job until one of the classes it waits for frees. A job
// blocked again for the same reason, on the same classes, is not sent to
// the store again (its explanation in Job is fresh; the stored one may lag).
func (c *Core) block(e *entry, reason string, waits []string) {
	same := e.st.State == model.Blocked && e.st.Reason == reason && slices.Equal(e.st.Waits, waits) &&
		e.st.ReservedFrom == e.reservedFrom
	c.unqueue(e)
	key := e.groupKey
	if key == "" || e.keyReason != reason || !slices.Equal(e.keyWaits, waits) {
		key = groupKey(e, reason, waits)
		e.groupKey, e.keyReason, e.keyWaits = key, reason, waits
	}
	if from := e.wokeFrom; from != nil && from.key != key {
		// The head of a group blocks on other classes than its group
		// waited for (a reservation it waited behind is gone, say):
		// the rest of the group would too. Try the next one in this
		// pass, and so on down the group, rather than leave them on
		// classes that may never wake again.
		c.wakeNext(from)
	}
	e.wokeFrom = nil
	e.st.State, e.st.Reason, e.st.ReservedFrom = model.Blocked, reason, e.reservedFrom
	e.st.Waits = waits
	g := c.groups[key]
	if g == nil {
		g = &group{key: key, waits: waits}
		c.groups[key] = g
		for _, w := range waits {
			set := c.waiters[w]
			if set == nil {
				set = map[string]*group{}
				c.waiters[w] = set
			}
			set[key] = g
		}
	}
	i := sort.Search(len(g.jobs), func(i int) bool { return queueCmp(g.jobs[i], e) >= 0 })
	g.jobs = slices.Insert(g.jobs, i, e)
	e.group = g
	if !same {
		e.st.Since = c.now
		c.touch(e)
	}
}

// unqueue takes a job out of the pending set and the blocked set.
func (c *Core) unqueue(e *entry) {
	c.unpend(e)
	g := e.group
	if g == nil {
		return
	}
	e.group = nil
	i := sort.Search(len(g.jobs), func(i int) bool { return queueCmp(g.jobs[i], e) >= 0 })
	if i < len(g.jobs) && g.jobs[i] == e {
		g.jobs = slices.Delete(g.jobs, i, i+1)
	}
	if len(g.jobs) == 0 {
		delete(c.groups, g.key)
		for _, w := range g.waits {
			if set := c.waiters[w]; set != nil {
				delete(set, g.key)
				if len(set) == 0 {
					delete(c.waiters, w)
				}
			}
		}
	}
}

// wake moves the head of every group blocked on the class back to the
// pending set; the next pass retries them in queue order.
func (c *Core) wake(class string) {
	set := c.waiters[class]
	if len(set) == 0 {
		return
	}
	heads := make([]*entry, 0, len(set))
	for _, g := range set {
		heads = append(heads, g.jobs[0])
	}
	for _, e := range heads {
		g := e.group
		c.unqueue(e)
		e.wokeFrom = g
		c.pend(e)
	}
}

// pend adds a job to the pending set.
func (c *Core) pend(e *entry) {
	if e.pendingAt == 0 {
		c.pending = append(c.pending, e)
		e.pendingAt = len(c.pending)
	}
}

// unpend takes a job out of the pending set.
func (c *Core) unpend(e *entry) {
	i := e.pendingAt - 1
	if i < 0 {
		return
	}
	last := len(c.pending) - 1
	c.pending[i] = c.pending[last]
	c.pending[i].pendingAt = i + 1
	c.pending[last] = nil
	c.pending = c.pending[:last]
	e.pendingAt = 0
}

// wakeNext follows a placed group head with the group's next job, for the
// running pass.
func (c *Core) wakeNext(g *group) {
	if g == nil || len(g.jobs) == 0 {
		return
	}
	e := g.jobs[0]
	c.unqueue(e)
	e.wokeFrom = g
	c.pend(e)
	c.woken = append(c.woken, e)
}

package core

import (
	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/model"
)

// Keeper is a sched.Policy that also says whether a placed job may stay on
// a node: a policy can deny new placements on capacity (a drain) while
// keeping the work already running there, and move only what it names (an
// evict). When the policy given by PolicyChanged implements Keeper, the
// core asks Keep, not Allow, when it re-checks placed jobs (after a policy
// change or a failed commit); a job is evicted, whole, when Keep refuses
// any node of its placement.
type Keeper interface {
	Keep(job *model.Job, site *model.Site, node *model.Node, m *catalog.Model) bool
}

// keeps reports whether a placed job may stay where it is under the
// current policy.
func (c *Core) keeps(e *entry) bool {
	k, ok := c.policy.(Keeper)
	if !ok {
		return c.allowed(e, e.st.Placement)
	}
	for _, a := range e.st.Placement.Assignments {
		n, ok := c.net.Node(a.Node)
		if !ok {
			return false
		}
		s, _ := c.net.Site(n.Site)
		if !k.Keep(&e.job, s, n, c.model(n.Model)) {
			return false
		}
	}
	return true
}

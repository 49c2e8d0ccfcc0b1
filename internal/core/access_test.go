package core

// Accessors that only the tests use.

import (
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/network"
)

// Now is the latest time the core has seen.
func (c *Core) Now() int64 { return c.now }

// Tenant returns a tenant's definition and the FP16 GFLOPS its placed jobs
// hold.
func (c *Core) Tenant(id model.TenantID) (model.Tenant, int64) {
	ts := c.tenant(id)
	return ts.t, ts.gflops
}

// Empty reports whether there is nothing to persist.
func (rd *Ready) Empty() bool {
	return len(rd.Placements) == 0 && len(rd.Stops) == 0 && len(rd.Jobs) == 0
}

// milli is the thousandths of a card the usage holds, over all models.
func (u usage) milli() int64 {
	var t int64
	for _, x := range u.models {
		t += x.milli
	}
	return t
}

// usageOf measures a placement against the network's catalog.
func usageOf(net *network.Network, p *model.Placement) usage { return usageBy(p, net.Model) }

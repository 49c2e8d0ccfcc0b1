package core

import (
	"slices"

	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/sched"
)

// Rejection reasons the core adds to the scheduler's. Like the scheduler's,
// they are API: they show in job records, metrics and golden files.
const (
	// ReasonQuotaExceeded: the placement found would take the tenant over
	// its FP16 quota or one of its vendor card caps.
	ReasonQuotaExceeded = "quota-exceeded"
	// ReasonReserved: the job would delay the reservation of a blocked
	// head-of-line gang and its declared runtime does not end before the
	// gang's expected start.
	ReasonReserved = "reserved"
)

// usage is what one placement holds, in the units quotas and fair share
// count: FP16 GFLOPS (normalised across vendors), card memory in MiB and
// thousandths of a card per vendor and per model.
type usage struct {
	gflops int64
	memMiB int64
	// vendors and models hold the thousandths of a card per vendor and
	// per model (catalog id), each named once, in the order the
	// placement's assignments first name them: a placement names few, and
	// scans over many placed jobs (Core.amountOf) read them in a row.
	vendors []vendorAmount
	models  []modelAmount
	// nodes are the cluster indexes of the placement's assignments' nodes,
	// for releasing and applying it again without looking them up (plan).
	nodes []int32
}

type modelAmount struct {
	model string
	milli int64
	ix    uint32 // 1 + the model's Core.modelIdx number, once known (it never changes)
}

type vendorAmount struct {
	vendor string
	milli  int64
}

// usage is usageOf with the core's remembered catalog look-ups.
func (c *Core) usage(p *model.Placement) usage { return usageBy(p, c.model) }

func usageBy(p *model.Placement, lookup func(id string) *catalog.Model) usage {
	u := usage{gflops: p.GFLOPS}
	for _, a := range p.Assignments {
		m := lookup(a.Model)
		milli, mem := int64(len(a.Cards))*model.MilliCard, int64(0)
		if a.ShareMilli > 0 {
			milli, mem = int64(a.ShareMilli)*int64(max(1, len(a.Cards))), a.MemMiB
		} else if m != nil {
			mem = int64(len(a.Cards)) * m.MemMiB()
		}
		u.memMiB += mem
		if i := slices.IndexFunc(u.models, func(x modelAmount) bool { return x.model == a.Model }); i >= 0 {
			u.models[i].milli += milli
		} else {
			u.models = append(u.models, modelAmount{model: a.Model, milli: milli})
		}
		if m == nil {
			continue
		}
		if i := slices.IndexFunc(u.vendors, func(x vendorAmount) bool { return x.vendor == m.Vendor }); i >= 0 {
			u.vendors[i].milli += milli
		} else {
			u.vendors = append(u.vendors, vendorAmount{vendor: m.Vendor, milli: milli})
		}
	}
	return u
}

// tenantState is a tenant's definition and what its placed jobs hold.
type tenantState struct {
	t           model.Tenant
	gflops      int64
	memMiB      int64
	vendorMilli map[string]int64
	// ver counts changes to the above; in is the scheduler's view of the
	// tenant (Core.input) as of inVer.
	ver, inVer uint64
	in         *sched.Input
	// setVer counts the tenant's upserts.
	setVer uint64
	// tview is the copy of t the scheduler reads (view), made when
	// tviewAt was setVer + 1.
	tview   *model.Tenant
	tviewAt uint64
}

// view is a copy of the tenant's definition for the scheduler's input,
// made once per upsert.
func (ts *tenantState) view() *model.Tenant {
	if ts.tviewAt != ts.setVer+1 {
		t := ts.t
		ts.tview, ts.tviewAt = &t, ts.setVer+1
	}
	return ts.tview
}

func newTenantState(id model.TenantID) *tenantState {
	return &tenantState{t: model.Tenant{ID: id, Weight: 1}, vendorMilli: map[string]int64{}}
}

func (ts *tenantState) add(u usage, sign int64) {
	ts.ver++
	ts.gflops += sign * u.gflops
	ts.memMiB += sign * u.memMiB
	for _, x := range u.vendors {
		v := x.vendor
		ts.vendorMilli[v] += sign * x.milli
		if ts.vendorMilli[v] == 0 {
			delete(ts.vendorMilli, v)
		}
	}
}

// fits reports whether the tenant can take u on top of what it holds:
// within its FP16 quota (0 = none) and every vendor card cap.
func (ts *tenantState) fits(u usage) bool {
	if q := ts.t.QuotaGFLOPS; q > 0 && ts.gflops+u.gflops > q {
		return false
	}
	for _, x := range u.vendors {
		if limit, ok := ts.t.VendorCaps[x.vendor]; ok && ts.vendorMilli[x.vendor]+x.milli > int64(limit)*model.MilliCard {
			return false
		}
	}
	return true
}

// exhausted reports whether the tenant's FP16 quota is used up, so that no
// placement can fit and the scheduler need not be asked.
func (ts *tenantState) exhausted() bool {
	return ts.t.QuotaGFLOPS > 0 && ts.gflops >= ts.t.QuotaGFLOPS
}

// shareScale is the fixed-point scale of a dominant share: parts per
// million of the network, times 1000 per unit of weight.
const shareScale = 1_000_000

// share is the tenant's weighted dominant share: the larger of its share of
// the network's FP16 GFLOPS and of its card memory, in parts per million,
// divided by its weight (in thousandths, so that weights stay exact).
func (ts *tenantState) share(totalGFLOPS, totalMemMiB int64) int64 {
	s := int64(0)
	if totalGFLOPS > 0 {
		s = mulDiv(ts.gflops, shareScale, totalGFLOPS)
	}
	if totalMemMiB > 0 {
		s = max(s, mulDiv(ts.memMiB, shareScale, totalMemMiB))
	}
	w := int64(ts.t.Weight)
	if w <= 0 {
		w = 1
	}
	return s * 1000 / w
}

// mulDiv is a*b/c without overflow for the magnitudes of a national
// network (a ≤ 1e15, b ≤ 1e6).
func mulDiv(a, b, c int64) int64 {
	if c == 0 {
		return 0
	}
	return (a / c * b) + (a % c * b / c)
}

package core

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/sched"
)

// maxRounds bounds the rounds of one pass: a round retries the jobs that
// the previous one requeued (preemption victims) or woke. Preemption chains
// strictly lower priority, so passes end well before this.
const maxRounds = 16

// pass tries every pending job, in queue order: priority class first, then
// the tenant with the smallest weighted dominant share, then queue
// position (after the service level, with Config.Service).
func (c *Core) pass() {
	for round := 0; round < maxRounds && len(c.pending) > 0; round++ {
		memo := map[string]*failure{}
		c.woken = c.woken[:0]
		q := c.newPicker()
		for e := q.next(); e != nil; e = q.next() {
			if e.pendingAt == 0 {
				continue // placed or blocked meanwhile
			}
			if c.try(e, memo) {
				clear(memo) // a preemption moved capacity: earlier failures may not hold
			}
			for _, w := range c.woken {
				q.push(w)
			}
			c.woken = c.woken[:0]
		}
	}
}

// failure is a decision not to place, shared by the jobs of one shape
// within a pass: placing jobs only takes capacity, so a shape that failed
// keeps failing until something frees.
type failure struct {
	reason string
	waits  []string
	d      *sched.Decision
}

// try decides one job. It reports whether it preempted.
func (c *Core) try(e *entry, memo map[string]*failure) bool {
	if c.tryUnfit(e) {
		return false
	}
	ts := c.tenant(e.job.Tenant)
	if ts.exhausted() {
		e.st.Decision = quotaDecision(e, ts)
		c.block(e, ReasonQuotaExceeded, []string{quotaClass(e.job.Tenant)})
		return false
	}
	key := e.shape()
	if f := memo[key]; f != nil {
		e.st.Decision = f.d
		c.block(e, f.reason, slices.Clone(f.waits))
		return false
	}
	hold := c.holders(e)
	var heldKey string
	if len(hold) > 0 {
		heldKey = heldMemoKey(e, hold)
		if f := memo[heldKey]; f != nil {
			c.blockReserved(e, f)
			return false
		}
	}
	d := sched.Schedule(c.cluster, &e.job, c.input(e, nil), c.cfg.Sched)
	if d.Placement != nil && len(hold) > 0 {
		if by := touches(d.Placement, hold); len(by) > 0 {
			// The placement takes nodes reserved for gangs ahead: look
			// for one elsewhere.
			var md sched.Decision
			c.maskedFree(hold, func() { md = sched.Brief(c.cluster, &e.job, c.input(e, nil), c.cfg.Sched) })
			if md.Placement == nil {
				f := &failure{reason: ReasonReserved, d: reservedDecision(e, by[0]), waits: c.heldWaits(e, &md.Explanation, hold)}
				memo[heldKey] = f
				c.blockReserved(e, f)
				return false
			}
			d = md
		}
	}
	if d.Placement != nil {
		if why := c.commitCheck(e, d.Placement); why == "" {
			e.st.Decision = &d
			return false
		} else {
			d.Placement = nil
			d.Explanation.Placed = false
			d.Explanation.Rejections = append(d.Explanation.Rejections, sched.Rejection{Reason: why, Count: 1, Unit: sched.UnitTenant})
		}
	}
	reason := mainReason(&d.Explanation)
	// A job held back by reservations does not preempt: what it would
	// free, the gangs ahead of it may need.
	if capacityBound(&d.Explanation) && len(hold) == 0 && c.preempt(e) {
		return true
	}
	waits := c.waitsFor(e, &d.Explanation)
	if e.job.Kind == model.Gang && capacityBound(&d.Explanation) {
		c.reserve(e)
	}
	e.st.Decision = &d
	memo[key] = &failure{reason: reason, waits: waits, d: &d}
	c.block(e, reason, slices.Clone(waits))
	return false
}

// blockReserved blocks a job that would take nodes reserved for a gang
// ahead of it and fits nowhere else; a gang among them plans its own
// reservation around the others.
func (c *Core) blockReserved(e *entry, f *failure) {
	if e.job.Kind == model.Gang {
		c.reserve(e)
	} else {
		c.dropReservation(e)
	}
	e.st.Decision = f.d
	c.block(e, f.reason, slices.Clone(f.waits))
}

// heldMemoKey is the memo key of a job held back by reservations: its
// shape, its declared runtime (which decides backfill) and the gangs
// holding it.
func heldMemoKey(e *entry, hold []*reservation) string {
	b := append([]byte(e.shape()), "|held|"...)
	b = strconv.AppendInt(b, e.job.RuntimeSec, 10)
	for _, r := range hold {
		b = append(append(b, '|'), r.job.job.ID...)
	}
	return string(b)
}

// input is the scheduler's view of the job's tenant; victims (when
// preempting) no longer count against the tenant.
func (c *Core) input(e *entry, victims []*entry) sched.Input {
	ts := c.tenant(e.job.Tenant)
	if len(victims) == 0 {
		// The same view until the tenant changes; the scheduler only
		// reads it.
		if ts.in == nil || ts.inVer != ts.ver {
			if ts.in == nil {
				ts.in = new(sched.Input)
			}
			*ts.in, ts.inVer = c.tenantInput(ts, nil), ts.ver // callers copy it
		}
		in := *ts.in
		in.Policy, in.Seed = c.policy, c.cfg.Seed
		in.EffectiveMilli, in.RatesFrom, in.Learned = c.effMilli(e), c.ratesFrom(e), c.learnedOf(e)
		return in
	}
	in := c.tenantInput(ts, victims)
	in.EffectiveMilli, in.RatesFrom, in.Learned = c.effMilli(e), c.ratesFrom(e), c.learnedOf(e)
	return in
}

// tenantInput is the scheduler's view of a tenant, without victims'
// holdings. The cards held per vendor are counted for a tenant with
// vendor caps only: the scheduler reads them against its caps.
func (c *Core) tenantInput(ts *tenantState, victims []*entry) sched.Input {
	capped := len(ts.t.VendorCaps) > 0
	held, vendor := ts.gflops, ts.vendorMilli
	if len(victims) > 0 && capped {
		vendor = maps0(vendor) // not the tenant's own
	}
	for _, v := range victims {
		if v.job.Tenant != ts.t.ID {
			continue
		}
		held -= v.use.gflops
		if capped {
			for _, x := range v.use.vendors {
				vendor[x.vendor] -= x.milli
			}
		}
	}
	var cards map[string]int
	if capped {
		cards = make(map[string]int, len(vendor))
		for k, m := range vendor {
			if m > 0 {
				cards[k] = int((m + model.MilliCard - 1) / model.MilliCard)
			}
		}
	}
	return sched.Input{Tenant: ts.view(), HeldGFLOPS: held, HeldCards: cards, Policy: c.policy, Seed: c.cfg.Seed}
}

func maps0(m map[string]int64) map[string]int64 {
	out := make(map[string]int64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// commitCheck re-checks a placement the scheduler found against the core's
// own accounts (quota, vendor caps in thousandths, policy) and places it;
// it returns the reason it refused, empty when placed.
func (c *Core) commitCheck(e *entry, p *model.Placement) sched.Reason {
	u := c.usageOf(e, p)
	ts := c.tenant(e.job.Tenant)
	switch {
	case !ts.fits(u):
		return sched.QuotaExceeded
	case !c.allowed(e, p):
		return sched.PolicyDenied
	case !c.placeUsing(e, p, &u):
		return sched.InsufficientCards
	}
	return ""
}

// allowed checks a placement against the current policy.
func (c *Core) allowed(e *entry, p *model.Placement) bool {
	if c.policy == nil {
		return true
	}
	for _, a := range p.Assignments {
		n, ok := c.net.Node(a.Node)
		if !ok {
			return false
		}
		s, _ := c.net.Site(n.Site)
		if ok, _ := c.policy.Allow(&e.job, s, n, c.model(n.Model)); !ok {
			return false
		}
	}
	return true
}

// Reasons that say capacity is short now, as opposed to the job not fitting
// the network at all or its tenant's quota.
func capacityBound(x *sched.Explanation) bool {
	return x.Count(sched.InsufficientCards) > 0 || x.Count(sched.TopologyUnsatisfiable) > 0
}

func quotaBound(x *sched.Explanation) bool {
	return x.Count(sched.QuotaExceeded) > 0 || x.Count(sched.VendorCapExceeded) > 0
}

// mainReason names the one reason a job record shows: what would unblock
// it first, else the reason that removed the most candidates.
func mainReason(x *sched.Explanation) string {
	if len(x.Unblock) > 0 && x.Unblock[0].Reason != "" {
		return string(x.Unblock[0].Reason)
	}
	best := sched.Rejection{}
	for _, r := range x.Rejections {
		if r.Count > best.Count || (r.Count == best.Count && r.Reason < best.Reason) {
			best = r
		}
	}
	if best.Reason == "" {
		return "unschedulable"
	}
	return string(best.Reason)
}

// heldWaits is what a job that fits the cluster but not off the nodes of
// the reservations hold waits for, x explaining the try around them: every
// reservation it was scheduled around (any of them moving may let it fit)
// and every model it can use (it fits the cluster, only not off the
// reserved nodes), besides what x names.
func (c *Core) heldWaits(e *entry, x *sched.Explanation, hold []*reservation) []string {
	w := append(c.waitsFor(e, x), e.classes...)
	if e.anyModel {
		w = slices.DeleteFunc(w, func(s string) bool { return strings.HasPrefix(s, "model:") && s != classAny })
		w = append(w, classAny)
	}
	for _, r := range hold {
		w = append(w, r.job.reservedClass())
	}
	slices.Sort(w)
	return slices.Compact(w)
}

// waitsFor lists the classes whose freeing could unblock the job: the
// models the scheduler names (or those the job can use), the tenant's quota
// when it binds, the policy when it denied nodes.
func (c *Core) waitsFor(e *entry, x *sched.Explanation) []string {
	var w []string
	if capacityBound(x) || (!quotaBound(x) && x.Count(sched.PolicyDenied) == 0) {
		for _, m := range x.Waits {
			w = append(w, modelClass(m))
		}
		if len(w) == 0 {
			w = append(w, e.classes...)
		}
	}
	if quotaBound(x) {
		w = append(w, quotaClass(e.job.Tenant))
	}
	if x.Count(sched.PolicyDenied) > 0 {
		w = append(w, classPolicy)
	}
	if slices.Contains(w, classAny) {
		w = slices.DeleteFunc(w, func(s string) bool { return strings.HasPrefix(s, "model:") && s != classAny })
	}
	slices.Sort(w)
	return slices.Compact(w)
}

// shape is the key of everything a decision depends on besides the
// cluster: jobs of one shape get the same decision in one pass. (Rates are
// not in it: they rank placements and decide whether one exists only
// through the quota in effective-share mode, where the class, or the job
// itself when it gives its own rates, is in the key; the key only
// memoizes failures.)
func (e *entry) shape() string {
	if e.shapeKey != "" {
		return e.shapeKey
	}
	j := &e.job
	// What fmt.Sprintf("%s|%s|%d|%d|%d|%d|%d|%q|%d|%d|%q|%q|%d|%q|%q|%s|%t|%t|%t|%s", …)
	// of these fields gives, appended directly.
	b := make([]byte, 0, 128)
	b = append(append(b, j.Tenant...), '|')
	b = append(append(b, j.Kind...), '|')
	for _, x := range []int64{int64(j.Priority), int64(j.Workers), int64(j.CardsPerWorker), int64(j.ShareMilli), j.MemMiB} {
		b = append(strconv.AppendInt(b, x, 10), '|')
	}
	b = append(appendQuoted(b, j.Models), '|')
	b = append(strconv.AppendInt(b, j.ComputeGFLOPS, 10), '|')
	b = append(strconv.AppendInt(b, int64(j.EfficiencyMilli), 10), '|')
	b = append(appendQuoted(b, j.Stacks), '|')
	b = append(appendQuoted(b, j.PyTorch), '|')
	b = append(strconv.AppendInt(b, j.MinMemMiB, 10), '|')
	b = append(appendQuoted(b, j.Regions), '|')
	b = append(appendQuoted(b, j.Sites), '|')
	b = append(append(b, j.Topology...), '|')
	for _, x := range []bool{j.TopologyRequired, j.CrossSite, j.Mixed} {
		b = append(strconv.AppendBool(b, x), '|')
	}
	b = append(b, j.Classification...)
	if e.ownRatesShape {
		// Its own rates decide what it is charged (EffectiveShare).
		b = append(append(b, "|#"...), j.ID...)
	} else if j.WorkloadClass != "" {
		b = append(append(b, '|'), j.WorkloadClass...)
	}
	e.shapeKey = string(b)
	return e.shapeKey
}

// appendQuoted appends a list as %q formats it: ["a" "b"].
func appendQuoted[S ~string](b []byte, list []S) []byte {
	b = append(b, '[')
	for i, x := range list {
		if i > 0 {
			b = append(b, ' ')
		}
		b = strconv.AppendQuote(b, string(x))
	}
	return append(b, ']')
}

// quotaDecision explains a job held back because its tenant's quota is
// used up, without asking the scheduler.
func quotaDecision(e *entry, ts *tenantState) *sched.Decision {
	text := fmt.Sprintf("tenant %s holds %d of its %d GFLOPS quota; raise the quota or wait for its jobs to end",
		ts.t.ID, ts.gflops, ts.t.QuotaGFLOPS)
	return &sched.Decision{Job: e.job.ID, Explanation: sched.Explanation{
		Summary:    "quota used up: " + text,
		Rejections: []sched.Rejection{{Reason: sched.QuotaExceeded, Count: 1, Unit: sched.UnitTenant}},
		Unblock:    []sched.Unblock{{Reason: sched.QuotaExceeded, Text: text}},
	}}
}

// reservedDecision explains a job held back by a gang's reservation: it
// would take a card of the nodes planned for the gang, and fits nowhere
// else now.
func reservedDecision(e *entry, r *reservation) *sched.Decision {
	// The summary is the prefix and the text, built in one string whose
	// tail is the text; the decision and its one unblock in one object.
	const prefix = "behind a reservation: "
	b := make([]byte, 0, 224)
	b = append(b, prefix+"gang "...)
	b = append(b, r.job.job.ID...)
	b = strconv.AppendInt(append(b, " holds the "...), int64(len(r.nodes)), 10)
	b = append(b, " nodes it is planned to start on (first "...)
	b = append(b, r.first...)
	b = append(b, "), which this job would need: nothing else fits now"...)
	switch {
	case r.start < 0:
		b = append(b, "; the gang's start is unknown (jobs on those nodes declared no runtime), so nothing backfills there"...)
	case e.job.RuntimeSec <= 0:
		b = strconv.AppendInt(append(b, "; the gang starts at t="...), r.start, 10)
		b = append(b, ": declare a runtime that ends by then to backfill"...)
	default:
		b = strconv.AppendInt(append(b, "; the gang starts at t="...), r.start, 10)
		b = strconv.AppendInt(append(b, ": this job's runtime of "...), e.job.RuntimeSec, 10)
		b = append(b, " s would end after it"...)
	}
	summary := string(b)
	x := &struct {
		d sched.Decision
		u [1]sched.Unblock
	}{}
	x.u[0] = sched.Unblock{Reason: ReasonReserved, Text: summary[len(prefix):]}
	x.d = sched.Decision{Job: e.job.ID, Explanation: sched.Explanation{Summary: summary, Unblock: x.u[:]}}
	return &x.d
}

// picker yields pending jobs in queue order, re-reading tenants' shares as
// placements change them.
type picker struct {
	c       *Core
	classes []*prioClass // highest priority first
	// byPrio keeps the classes of earlier rounds for reuse; those with
	// round set are in classes.
	byPrio map[int]*prioClass
	round  uint64
}

type prioClass struct {
	prio    int
	tenants []model.TenantID            // sorted
	queues  map[model.TenantID][]*entry // by position
	round   uint64                      // the picker round it was filled for
}

// newPicker orders the pending jobs for a round. One picker serves every
// round (rounds do not nest), its classes and maps reused.
func (c *Core) newPicker() *picker {
	p := c.picker
	if p == nil {
		p = &picker{c: c, byPrio: map[int]*prioClass{}}
		c.picker = p
	}
	p.round++
	p.classes = p.classes[:0]
	for _, e := range c.pending {
		pc := p.byPrio[e.job.Priority]
		if pc == nil {
			pc = &prioClass{prio: e.job.Priority, queues: map[model.TenantID][]*entry{}}
			p.byPrio[e.job.Priority] = pc
		}
		if pc.round != p.round {
			pc.round = p.round
			pc.tenants = pc.tenants[:0]
			clear(pc.queues)
			p.classes = append(p.classes, pc)
		}
		if _, ok := pc.queues[e.job.Tenant]; !ok {
			pc.tenants = append(pc.tenants, e.job.Tenant)
		}
		pc.queues[e.job.Tenant] = append(pc.queues[e.job.Tenant], e)
	}
	for _, pc := range p.classes {
		slices.Sort(pc.tenants)
		for _, q := range pc.queues {
			slices.SortFunc(q, queueCmp)
		}
	}
	slices.SortFunc(p.classes, func(a, b *prioClass) int { return cmp.Compare(b.prio, a.prio) })
	return p
}

// push adds a job woken during the pass to its tenant's queue.
func (p *picker) push(e *entry) {
	i := slices.IndexFunc(p.classes, func(pc *prioClass) bool { return pc.prio <= e.job.Priority })
	if i < 0 || p.classes[i].prio != e.job.Priority {
		pc := &prioClass{prio: e.job.Priority, queues: map[model.TenantID][]*entry{}}
		if i < 0 {
			i = len(p.classes)
		}
		p.classes = slices.Insert(p.classes, i, pc)
	}
	pc := p.classes[i]
	q, ok := pc.queues[e.job.Tenant]
	if !ok {
		k, _ := slices.BinarySearch(pc.tenants, e.job.Tenant)
		pc.tenants = slices.Insert(pc.tenants, k, e.job.Tenant)
	}
	k := sort.Search(len(q), func(k int) bool { return queueCmp(q[k], e) >= 0 })
	pc.queues[e.job.Tenant] = slices.Insert(q, k, e)
}

// next pops the head of the queue of the tenant with the smallest weighted
// dominant share in the highest priority class that has jobs left.
func (p *picker) next() *entry {
	for len(p.classes) > 0 {
		pc := p.classes[0]
		var best model.TenantID
		bestShare, found := int64(0), false
		for _, t := range pc.tenants {
			if len(pc.queues[t]) == 0 {
				continue
			}
			s := p.c.tenant(t).share(p.c.totalGFLOPS, p.c.totalMemMiB)
			if !found || s < bestShare {
				best, bestShare, found = t, s, true
			}
		}
		if !found {
			p.classes = p.classes[1:]
			continue
		}
		q := pc.queues[best]
		pc.queues[best] = q[1:]
		return q[0]
	}
	return nil
}

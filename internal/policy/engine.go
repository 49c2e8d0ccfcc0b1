package policy

import (
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/model"
)

// Snapshot is one immutable state of the policy: the document in force and
// every advisory ever filed (lifted ones kept, for the record). A
// scheduling pass works on one snapshot, so a replacement mid-pass cannot
// split it.
type Snapshot struct {
	cat        *catalog.Catalog
	policy     *Policy
	advisories []Advisory // in filing order
	revision   uint64
}

// Policy returns the document in force (the zero Policy, allowing all,
// before the first Replace). Callers must not modify it.
func (s *Snapshot) Policy() *Policy { return s.policy }

// Revision counts the changes (replacements, filings, lifts) since the
// engine started; a consumer compares it to know whether to re-check
// running work.
func (s *Snapshot) Revision() uint64 { return s.revision }

// Advisories returns every advisory filed, in filing order.
func (s *Snapshot) Advisories() []Advisory {
	return append([]Advisory(nil), s.advisories...)
}

// Advisory returns the advisory with the id.
func (s *Snapshot) Advisory(id string) (Advisory, bool) {
	for _, a := range s.advisories {
		if a.ID == id {
			return a, true
		}
	}
	return Advisory{}, false
}

// Evaluate decides whether the tenant's job may use a card of model m on
// node at site: the first rule (in document order) the card breaks, else
// the first active drain or evict advisory covering it for the job's class.
func (s *Snapshot) Evaluate(job *model.Job, tenant *model.Tenant, site *model.Site, node *model.Node, m *catalog.Model) Verdict {
	return s.check(job, tenant, card{site, node, m}, true, true)
}

// For binds the snapshot to a tenant, giving the scheduler's filter.
func (s *Snapshot) For(tenant *model.Tenant) Filter { return Filter{snap: s, tenant: tenant} }

// Filter is the policy as the scheduler sees it for one tenant's jobs.
type Filter struct {
	snap   *Snapshot
	tenant *model.Tenant
}

// Allow reports whether the job may be placed on a card of model m on node
// at site; when not, rule is the id of the rule or advisory that denied
// (the key Explain takes).
func (f Filter) Allow(job *model.Job, site *model.Site, node *model.Node, m *catalog.Model) (ok bool, rule string) {
	v := f.snap.check(job, f.tenant, card{site, node, m}, true, false)
	return v.Allowed, v.Rule
}

// Evaluate is Allow with the explanation.
func (f Filter) Evaluate(job *model.Job, site *model.Site, node *model.Node, m *catalog.Model) Verdict {
	return f.snap.Evaluate(job, f.tenant, site, node, m)
}

// Explain turns the cards excluded per rule (Allow's rule → count) into
// sentences; see Snapshot.Explain.
func (f Filter) Explain(excluded map[string]int) []string { return f.snap.Explain(excluded) }

// Engine holds the current snapshot. Readers take snapshots without
// locking; Replace, File and Lift build a new snapshot and swap it in, so a
// failed change leaves the state in force untouched.
type Engine struct {
	mu  sync.Mutex // serialises Replace, File and Lift
	cur atomic.Pointer[Snapshot]
}

// NewEngine starts with no rules and no advisories (everything allowed),
// resolving names in cat (nil: the embedded catalog).
func NewEngine(cat *catalog.Catalog) *Engine {
	if cat == nil {
		cat = defaultCatalog()
	}
	e := &Engine{}
	e.cur.Store(&Snapshot{cat: cat, policy: &Policy{}})
	return e
}

// Snapshot returns the current state.
func (e *Engine) Snapshot() *Snapshot { return e.cur.Load() }

// For binds the current snapshot to a tenant (see Snapshot.For).
func (e *Engine) For(tenant *model.Tenant) Filter { return e.Snapshot().For(tenant) }

// Evaluate evaluates against the current snapshot.
func (e *Engine) Evaluate(job *model.Job, tenant *model.Tenant, site *model.Site, node *model.Node, m *catalog.Model) Verdict {
	return e.Snapshot().Evaluate(job, tenant, site, node, m)
}

// Replace parses doc and, if it is valid and newer than the policy in
// force, puts it in force. On any error the policy in force stays.
// Replacing with the same version and the same content is a no-op.
func (e *Engine) Replace(doc []byte) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	cur := e.cur.Load()
	p, err := Parse(doc, cur.cat)
	if err != nil {
		return fmt.Errorf("policy rejected; version %d stays in force: %w", cur.policy.Version, err)
	}
	if p.Version < cur.policy.Version {
		return fmt.Errorf("policy rejected: version %d is older than version %d in force; a stale copy?", p.Version, cur.policy.Version)
	}
	if p.Version == cur.policy.Version {
		if same(p, cur.policy) {
			return nil
		}
		return fmt.Errorf("policy rejected: version %d is already in force with other content; raise version to replace it", p.Version)
	}
	next := *cur
	next.policy = p
	next.revision++
	e.cur.Store(&next)
	return nil
}

func same(a, b *Policy) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(ja) == string(jb)
}

// File validates and records an advisory, returning it with its names in
// catalog form. Ids are unique for good: a lifted advisory keeps its id.
// An advisory given with Lifted set is recorded as lifted (restoring
// history from a store).
func (e *Engine) File(a Advisory) (Advisory, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	cur := e.cur.Load()
	a.Models = append([]string(nil), a.Models...)
	a.Classes = append([]model.Classification(nil), a.Classes...)
	if a.Lifted != nil {
		t := *a.Lifted
		a.Lifted = &t
	}
	if err := a.resolve(cur.cat); err != nil {
		return Advisory{}, fmt.Errorf("file advisory %s: %w", a.ID, err)
	}
	if _, dup := cur.Advisory(a.ID); dup {
		return Advisory{}, fmt.Errorf("file advisory %s: the id is already used; advisory ids are never reused", a.ID)
	}
	next := *cur
	next.advisories = append(append([]Advisory(nil), cur.advisories...), a)
	next.revision++
	e.cur.Store(&next)
	return a, nil
}

// Lift ends an advisory at time at, by whom; the capacity it covered is
// open again to new placements from the next snapshot.
func (e *Engine) Lift(id string, at int64, by string) (Advisory, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	cur := e.cur.Load()
	next := *cur
	next.advisories = append([]Advisory(nil), cur.advisories...)
	for i := range next.advisories {
		a := &next.advisories[i]
		if a.ID != id {
			continue
		}
		switch {
		case !a.Active():
			return Advisory{}, fmt.Errorf("lift advisory %s: already lifted at %d by %s", id, *a.Lifted, orUnknown(a.LiftedBy))
		case at < a.Filed:
			return Advisory{}, fmt.Errorf("lift advisory %s: time %d is before it was filed (%d)", id, at, a.Filed)
		}
		t := at
		a.Lifted, a.LiftedBy = &t, by
		next.revision++
		e.cur.Store(&next)
		return *a, nil
	}
	return Advisory{}, fmt.Errorf("lift advisory %s: no such advisory", id)
}

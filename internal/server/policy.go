package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/audit"
	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/httpapi"
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/policy"
	"github.com/suanli/suanli/internal/store"
)

// Store keys of the policy: the document in force and every advisory ever
// filed (lifted ones kept).
const (
	policyPrefix   = "policy/"
	policyKey      = "policy/document"
	advisoryPrefix = "policy/advisories/"
)

// policyRecord is the policy document as the store holds it.
type policyRecord struct {
	Document  string    `json:"document"`
	Version   int       `json:"version"`
	UpdatedAt time.Time `json:"updated_at"`
	UpdatedBy string    `json:"updated_by"`
}

// applyPolicyKV brings the replica's policy engine up to a stored record.
// It is idempotent: a document already in force, an advisory already
// filed or lifted, changes nothing.
func (s *Server) applyPolicyKV(kv store.KV) {
	e := s.pol.Load()
	switch {
	case kv.Key == policyKey:
		var r policyRecord
		if json.Unmarshal(kv.Value, &r) == nil {
			if err := e.Replace([]byte(r.Document)); err != nil && r.Version > e.Snapshot().Policy().Version {
				s.log.Error("stored policy refused", "version", r.Version, "err", err)
			}
		}
	case strings.HasPrefix(kv.Key, advisoryPrefix):
		var a policy.Advisory
		if json.Unmarshal(kv.Value, &a) != nil {
			return
		}
		cur, known := e.Snapshot().Advisory(a.ID)
		switch {
		case !known:
			if _, err := e.File(a); err != nil {
				s.log.Error("stored advisory refused", "advisory", a.ID, "err", err)
			}
		case cur.Active() && a.Lifted != nil:
			_, _ = e.Lift(a.ID, *a.Lifted, a.LiftedBy)
		}
	}
}

// reloadPolicy rebuilds the policy engine from the store, after a write
// whose outcome is unknown left the engine ahead of the store.
func (s *Server) reloadPolicy(ctx context.Context) error {
	kvs, _, err := s.s.List(ctx, policyPrefix)
	if err != nil {
		return fmt.Errorf("list policy: %w", err)
	}
	s.pol.Store(policy.NewEngine(s.net.Catalog))
	for _, kv := range kvs {
		s.applyPolicyKV(kv)
	}
	return nil
}

// policyLoaded waits until the engine has read the store once.
func (s *Server) policyLoaded(ctx context.Context) error {
	select {
	case <-s.polReady:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: the policy is not loaded yet; retry shortly", httpapi.ErrUnavailable)
	}
}

// problems turns a policy package validation error (an errors.Join of
// "path: message" errors, possibly wrapped) into API problems.
func problems(err error) error {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			return httpapi.ProblemsOf(j.(error), "")
		}
	}
	return fmt.Errorf("%w: %v", httpapi.ErrInvalid, err)
}

// Policy implements httpapi.Policies.
func (s *Server) Policy(ctx context.Context) (v1.Policy, error) {
	if err := s.policyLoaded(ctx); err != nil {
		return v1.Policy{}, err
	}
	snap := s.pol.Load().Snapshot()
	p := snap.Policy()
	out := v1.Policy{Version: p.Version, Name: p.Name, Description: p.Description, Rules: len(p.Rules), Revision: snap.Revision()}
	kv, err := s.s.Get(ctx, policyKey)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return out, nil
	case err != nil:
		return v1.Policy{}, fmt.Errorf("read policy: %w", err)
	}
	var r policyRecord
	if err := json.Unmarshal(kv.Value, &r); err != nil {
		return v1.Policy{}, fmt.Errorf("decode policy: %w", err)
	}
	out.Document, out.UpdatedBy = r.Document, r.UpdatedBy
	t := r.UpdatedAt
	out.UpdatedAt = &t
	return out, nil
}

// ReplacePolicy implements httpapi.Policies: a document with errors is
// refused with every error listed, and the policy in force stays.
func (s *Server) ReplacePolicy(ctx context.Context, p httpapi.Principal, doc string) (v1.Policy, error) {
	if err := s.policyLoaded(ctx); err != nil {
		return v1.Policy{}, err
	}
	s.polMu.Lock()
	defer s.polMu.Unlock()
	parsed, err := policy.Parse([]byte(doc), s.net.Catalog)
	if err != nil {
		return v1.Policy{}, problems(err)
	}
	e := s.pol.Load()
	before := e.Snapshot()
	if err := e.Replace([]byte(doc)); err != nil {
		return v1.Policy{}, fmt.Errorf("%w: %v", httpapi.ErrConflict, err)
	}
	if e.Snapshot() == before {
		return s.Policy(ctx) // the same document: nothing to do
	}
	rev := int64(0)
	if kv, err := s.s.Get(ctx, policyKey); err == nil {
		rev = kv.ModRev
	} else if !errors.Is(err, store.ErrNotFound) {
		return v1.Policy{}, s.policyWriteFailed(ctx, fmt.Errorf("read policy: %w", err))
	}
	b, _ := json.Marshal(policyRecord{Document: doc, Version: parsed.Version, UpdatedAt: s.now().UTC(), UpdatedBy: p.Actor()})
	if _, err := s.w.apply(ctx, &mutation{
		conds: []store.Cond{{Key: policyKey, ModRev: rev}},
		ops:   []store.Op{store.PutOp(policyKey, b)},
		audit: []audit.Record{{Actor: p.Actor(), Action: "policy.replace", Target: parsed.Name,
			Detail: fmt.Sprintf("version %d -> %d, %d rules", before.Policy().Version, parsed.Version, len(parsed.Rules))}},
	}); err != nil {
		return v1.Policy{}, s.policyWriteFailed(ctx, fmt.Errorf("store policy: %w", err))
	}
	return s.Policy(ctx)
}

// policyWriteFailed puts the engine back in step with the store.
func (s *Server) policyWriteFailed(ctx context.Context, err error) error {
	if rerr := s.reloadPolicy(ctx); rerr != nil {
		s.log.Error("reload policy", "err", rerr)
	}
	return err
}

func advisoryWire(a policy.Advisory) v1.Advisory {
	w := v1.Advisory{ID: a.ID, Summary: a.Summary, Vendor: a.Vendor, Models: a.Models, Firmware: a.Firmware, Driver: a.Driver,
		Severity: string(a.Severity), Action: string(a.Action), Filed: time.Unix(a.Filed, 0).UTC(), FiledBy: a.FiledBy, LiftedBy: a.LiftedBy}
	for _, c := range a.Classes {
		w.Classes = append(w.Classes, string(c))
	}
	if a.Lifted != nil {
		t := time.Unix(*a.Lifted, 0).UTC()
		w.Lifted = &t
	}
	return w
}

// Advisories implements httpapi.Policies: every advisory filed, in filing
// order.
func (s *Server) Advisories(ctx context.Context) ([]v1.Advisory, error) {
	if err := s.policyLoaded(ctx); err != nil {
		return nil, err
	}
	out := []v1.Advisory{}
	for _, a := range s.pol.Load().Snapshot().Advisories() {
		out = append(out, advisoryWire(a))
	}
	return out, nil
}

// FileAdvisory implements httpapi.Policies.
func (s *Server) FileAdvisory(ctx context.Context, p httpapi.Principal, w v1.Advisory) (v1.Advisory, error) {
	if err := s.policyLoaded(ctx); err != nil {
		return v1.Advisory{}, err
	}
	s.polMu.Lock()
	defer s.polMu.Unlock()
	now := s.now().UTC()
	if w.ID == "" {
		var b [3]byte
		_, _ = rand.Read(b[:])
		w.ID = fmt.Sprintf("ADV-%s-%s", now.Format("20060102"), hex.EncodeToString(b[:]))
	}
	a := policy.Advisory{ID: w.ID, Summary: w.Summary, Vendor: w.Vendor, Models: w.Models, Firmware: w.Firmware, Driver: w.Driver,
		Severity: policy.Severity(w.Severity), Action: policy.Action(w.Action), Filed: now.Unix(), FiledBy: p.Actor()}
	for _, c := range w.Classes {
		a.Classes = append(a.Classes, model.Classification(c))
	}
	filed, err := s.pol.Load().File(a)
	if err != nil {
		if strings.Contains(err.Error(), "never reused") {
			return v1.Advisory{}, fmt.Errorf("%w: %v", httpapi.ErrConflict, err)
		}
		return v1.Advisory{}, problems(err)
	}
	b, _ := json.Marshal(filed)
	key := advisoryPrefix + filed.ID
	if _, err := s.w.apply(ctx, &mutation{
		conds: []store.Cond{{Key: key, ModRev: 0}},
		ops:   []store.Op{store.PutOp(key, b)},
		audit: []audit.Record{{Actor: p.Actor(), Action: "advisory.file", Target: filed.ID, Detail: advisoryDetail(filed)}},
	}); err != nil {
		return v1.Advisory{}, s.policyWriteFailed(ctx, fmt.Errorf("store advisory %s: %w", filed.ID, err))
	}
	return advisoryWire(filed), nil
}

func advisoryDetail(a policy.Advisory) string {
	d := fmt.Sprintf("action=%s severity=%s", a.Action, a.Severity)
	if a.Vendor != "" {
		d += " vendor=" + a.Vendor
	}
	if len(a.Models) > 0 {
		d += " models=" + strings.Join(a.Models, ",")
	}
	if len(a.Classes) > 0 {
		cs := make([]string, len(a.Classes))
		for i, c := range a.Classes {
			cs[i] = string(c)
		}
		d += " classes=" + strings.Join(cs, ",")
	}
	if a.Firmware != "" {
		d += " firmware=" + a.Firmware
	}
	if a.Driver != "" {
		d += " driver=" + a.Driver
	}
	return d
}

// LiftAdvisory implements httpapi.Policies.
func (s *Server) LiftAdvisory(ctx context.Context, p httpapi.Principal, id string) (v1.Advisory, error) {
	if err := s.policyLoaded(ctx); err != nil {
		return v1.Advisory{}, err
	}
	s.polMu.Lock()
	defer s.polMu.Unlock()
	key := advisoryPrefix + id
	kv, err := s.s.Get(ctx, key)
	if errors.Is(err, store.ErrNotFound) || len(id) > 64 {
		return v1.Advisory{}, fmt.Errorf("advisory %q: %w", id, httpapi.ErrNotFound)
	}
	if err != nil {
		return v1.Advisory{}, fmt.Errorf("read advisory %s: %w", id, err)
	}
	lifted, err := s.pol.Load().Lift(id, s.now().Unix(), p.Actor())
	if err != nil {
		return v1.Advisory{}, fmt.Errorf("%w: %v", httpapi.ErrConflict, err)
	}
	b, _ := json.Marshal(lifted)
	if _, err := s.w.apply(ctx, &mutation{
		conds: []store.Cond{{Key: key, ModRev: kv.ModRev}},
		ops:   []store.Op{store.PutOp(key, b)},
		audit: []audit.Record{{Actor: p.Actor(), Action: "advisory.lift", Target: id, Detail: advisoryDetail(lifted)}},
	}); err != nil {
		return v1.Advisory{}, s.policyWriteFailed(ctx, fmt.Errorf("store advisory %s: %w", id, err))
	}
	return advisoryWire(lifted), nil
}

// Compliance implements httpapi.Policies: the policy package's report over
// the live placements.
func (s *Server) Compliance(ctx context.Context) (any, error) {
	if err := s.policyLoaded(ctx); err != nil {
		return nil, err
	}
	if err := s.v.catchUp(ctx, s.s); err != nil {
		return nil, fmt.Errorf("%w: %v", httpapi.ErrUnavailable, err)
	}
	tenants, err := s.tenantMap(ctx)
	if err != nil {
		return nil, err
	}
	var running []policy.Running
	for _, j := range s.v.liveJobs() {
		running = append(running, policy.Running{Job: &j.rec.Spec, Tenant: tenants[j.rec.Spec.Tenant], Placement: j.rec.Placement})
	}
	return policy.Compliance(s.net, s.pol.Load().Snapshot(), running, nil, s.now().Unix()), nil
}

func (s *Server) tenantMap(ctx context.Context) (map[model.TenantID]*model.Tenant, error) {
	kvs, _, err := s.s.List(ctx, tenantPrefix)
	if err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	out := map[model.TenantID]*model.Tenant{}
	for _, kv := range kvs {
		var t model.Tenant
		if json.Unmarshal(kv.Value, &t) == nil {
			out[t.ID] = &t
		}
	}
	return out, nil
}

// policyFilter is the policy as the core sees it: new placements go where
// the tenant's filter allows; placed jobs stay unless the violations
// computed when the policy changed name them (so a drain moves nothing and
// an evict moves exactly the affected jobs, whole).
type policyFilter struct {
	snap    *policy.Snapshot
	tenants map[model.TenantID]*model.Tenant // the loop's, read on its goroutine
	off     map[model.JobID]map[model.NodeID]bool
}

func (f *policyFilter) Allow(job *model.Job, site *model.Site, node *model.Node, m *catalog.Model) (bool, string) {
	return f.snap.For(f.tenants[job.Tenant]).Allow(job, site, node, m)
}

func (f *policyFilter) Keep(job *model.Job, site *model.Site, node *model.Node, m *catalog.Model) bool {
	return !f.off[job.ID][node.ID]
}

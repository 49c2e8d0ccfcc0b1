package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/audit"
	"github.com/suanli/suanli/internal/httpapi"
	"github.com/suanli/suanli/internal/ledger"
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/store"
)

// tokenCacheFor is how long an authenticated token is trusted without a
// store read; a revocation takes effect within it.
const tokenCacheFor = 2 * time.Second

// Authenticate implements httpapi.Authenticator.
func (s *Server) Authenticate(ctx context.Context, secret string) (httpapi.Principal, error) {
	h := httpapi.HashSecret(secret)
	now := s.now()
	s.mu.Lock()
	c, ok := s.tokens[h]
	s.mu.Unlock()
	if ok && now.Before(c.exp) {
		return c.p, nil
	}
	kv, err := s.s.Get(ctx, tokenPrefix+h)
	if errors.Is(err, store.ErrNotFound) {
		return httpapi.Principal{}, httpapi.ErrUnauthorized
	}
	if err != nil {
		return httpapi.Principal{}, fmt.Errorf("read token: %w", err)
	}
	var t tokenRecord
	if err := json.Unmarshal(kv.Value, &t); err != nil {
		return httpapi.Principal{}, fmt.Errorf("decode token %s: %w", h[:8], err)
	}
	p := httpapi.Principal{TokenID: t.ID, Role: t.Role, Tenant: t.Tenant}
	s.mu.Lock()
	if len(s.tokens) > 10_000 {
		clear(s.tokens)
	}
	s.tokens[h] = cachedToken{p: p, exp: now.Add(tokenCacheFor)}
	s.mu.Unlock()
	return p, nil
}

// CreateToken implements httpapi.Admin.
func (s *Server) CreateToken(ctx context.Context, p httpapi.Principal, req v1.TokenRequest) (v1.Token, error) {
	if req.Tenant != "" {
		if err := s.tenantExists(ctx, model.TenantID(req.Tenant)); err != nil {
			return v1.Token{}, err
		}
	}
	secret, err := httpapi.NewSecret()
	if err != nil {
		return v1.Token{}, err
	}
	var id [6]byte
	_, _ = rand.Read(id[:])
	t := tokenRecord{ID: "tok-" + hex.EncodeToString(id[:]), Role: req.Role, Tenant: req.Tenant, Name: req.Name, CreatedAt: s.now().UTC()}
	b, _ := json.Marshal(t)
	key := tokenPrefix + httpapi.HashSecret(secret)
	if _, err := s.w.apply(ctx, &mutation{
		conds: []store.Cond{{Key: key, ModRev: 0}},
		ops:   []store.Op{store.PutOp(key, b)},
		audit: []audit.Record{{Actor: p.Actor(), Action: "token.create", Target: t.ID, Detail: "role=" + t.Role + " tenant=" + t.Tenant}},
	}); err != nil {
		return v1.Token{}, fmt.Errorf("store token: %w", err)
	}
	w := t.wire()
	w.Secret = secret
	return w, nil
}

// Tokens implements httpapi.Admin.
func (s *Server) Tokens(ctx context.Context) ([]v1.Token, error) {
	kvs, _, err := s.s.List(ctx, tokenPrefix)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	var out []v1.Token
	for _, kv := range kvs {
		var t tokenRecord
		if err := json.Unmarshal(kv.Value, &t); err != nil {
			return nil, fmt.Errorf("decode %s: %w", kv.Key[:len(tokenPrefix)+8], err)
		}
		out = append(out, t.wire())
	}
	return out, nil
}

// RevokeToken implements httpapi.Admin.
func (s *Server) RevokeToken(ctx context.Context, p httpapi.Principal, id string) error {
	kvs, _, err := s.s.List(ctx, tokenPrefix)
	if err != nil {
		return fmt.Errorf("list tokens: %w", err)
	}
	for _, kv := range kvs {
		var t tokenRecord
		if json.Unmarshal(kv.Value, &t) != nil || t.ID != id {
			continue
		}
		_, err := s.w.apply(ctx, &mutation{
			conds: []store.Cond{{Key: kv.Key, ModRev: kv.ModRev}},
			ops:   []store.Op{store.DeleteOp(kv.Key)},
			audit: []audit.Record{{Actor: p.Actor(), Action: "token.revoke", Target: id}},
		})
		s.mu.Lock()
		clear(s.tokens)
		s.mu.Unlock()
		return err
	}
	return fmt.Errorf("token %q: %w", id, httpapi.ErrNotFound)
}

// Tenants implements httpapi.Admin.
func (s *Server) Tenants(ctx context.Context) ([]v1.Tenant, error) {
	kvs, _, err := s.s.List(ctx, tenantPrefix)
	if err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	var out []v1.Tenant
	for _, kv := range kvs {
		var t model.Tenant
		if err := json.Unmarshal(kv.Value, &t); err != nil {
			return nil, fmt.Errorf("decode %s: %w", kv.Key, err)
		}
		out = append(out, tenantWire(t))
	}
	return out, nil
}

// Tenant implements httpapi.Admin.
func (s *Server) Tenant(ctx context.Context, id string) (v1.Tenant, error) {
	kv, err := s.s.Get(ctx, tenantPrefix+id)
	if errors.Is(err, store.ErrNotFound) {
		return v1.Tenant{}, fmt.Errorf("tenant %q: %w", id, httpapi.ErrNotFound)
	}
	if err != nil {
		return v1.Tenant{}, fmt.Errorf("read tenant %s: %w", id, err)
	}
	var t model.Tenant
	if err := json.Unmarshal(kv.Value, &t); err != nil {
		return v1.Tenant{}, fmt.Errorf("decode tenant %s: %w", id, err)
	}
	return tenantWire(t), nil
}

// PutTenant implements httpapi.Admin.
func (s *Server) PutTenant(ctx context.Context, p httpapi.Principal, t model.Tenant) (v1.Tenant, error) {
	b, _ := json.Marshal(t)
	if _, err := s.w.apply(ctx, &mutation{
		ops:   []store.Op{store.PutOp(tenantPrefix+string(t.ID), b)},
		audit: []audit.Record{{Actor: p.Actor(), Action: "tenant.put", Target: string(t.ID), Detail: fmt.Sprintf("class=%s quota_gflops=%d weight=%d", t.Class, t.QuotaGFLOPS, t.Weight)}},
	}); err != nil {
		return v1.Tenant{}, fmt.Errorf("store tenant %s: %w", t.ID, err)
	}
	return tenantWire(t), nil
}

// Usage implements httpapi.Admin: metered from the job records.
func (s *Server) Usage(ctx context.Context, tenant, month string) (v1.Usage, error) {
	recs, _, _, err := s.jobsSorted(ctx)
	if err != nil {
		return v1.Usage{}, err
	}
	var ivs []ledger.Interval
	for _, r := range recs {
		if string(r.Spec.Tenant) != tenant {
			continue
		}
		for _, sp := range r.Spans {
			ivs = append(ivs, s.intervals(r, sp.Placement, sp.Start, sp.End)...)
		}
		if r.Placement != nil && r.PlacedAt != nil {
			var end time.Time
			if r.EndedAt != nil {
				end = *r.EndedAt
			}
			ivs = append(ivs, s.intervals(r, *r.Placement, *r.PlacedAt, end)...)
		}
	}
	u, err := ledger.Meter(model.TenantID(tenant), month, ivs, s.cfg.Prices, s.now().Unix())
	if err != nil {
		return v1.Usage{}, fmt.Errorf("%w: %v", httpapi.ErrInvalid, err)
	}
	out := v1.Usage{Tenant: tenant, Month: month, Lines: []v1.UsageLine{}, CardHoursMilli: u.CardHoursMilli, PFLOPHoursMilli: u.PFLOPHoursMilli, CostFen: u.CostFen}
	for _, l := range u.Lines {
		out.Lines = append(out.Lines, v1.UsageLine{Site: string(l.Site), Model: l.Model, Ownership: string(l.Ownership),
			CardHoursMilli: l.CardHoursMilli, PFLOPHoursMilli: l.PFLOPHoursMilli, FenPerCardHour: l.FenPerCardHour, CostFen: l.CostFen})
	}
	return out, nil
}

// intervals splits a placement held over [start, end) into per-assignment
// metering intervals (end zero: still held).
func (s *Server) intervals(r *jobRecord, p model.Placement, start, end time.Time) []ledger.Interval {
	var out []ledger.Interval
	for _, a := range p.Assignments {
		iv := ledger.Interval{Tenant: r.Spec.Tenant, Job: r.Spec.ID, Model: a.Model, Start: start.Unix()}
		if !end.IsZero() {
			iv.End = end.Unix()
			if iv.End <= iv.Start {
				continue
			}
		}
		if n, ok := s.net.Node(a.Node); ok {
			iv.Site = n.Site
			if site, ok := s.net.Site(n.Site); ok {
				iv.Ownership = site.Ownership
			}
		}
		iv.MilliCards = int64(len(a.Cards)) * model.MilliCard
		if a.ShareMilli > 0 {
			iv.MilliCards = int64(a.ShareMilli)
		}
		if m := s.net.Model(a.Model); m != nil {
			g, _, _ := m.FP16GFLOPS()
			iv.GFLOPS = g * iv.MilliCards / model.MilliCard
		}
		out = append(out, iv)
	}
	return out
}

// Audit implements httpapi.Admin.
func (s *Server) Audit(ctx context.Context, after int64, limit int) (v1.AuditList, error) {
	es, err := audit.Read(ctx, s.s, after, limit)
	if err != nil {
		return v1.AuditList{}, err
	}
	var out v1.AuditList
	for _, e := range es {
		out.Entries = append(out.Entries, v1.AuditEntry{Seq: e.Seq, Time: e.Time, Actor: e.Actor, Action: e.Action, Target: e.Target, Detail: e.Detail, Prev: e.Prev, Hash: e.Hash})
	}
	if len(es) == limit && limit > 0 {
		out.Next = es[len(es)-1].Seq
	}
	return out, nil
}

// VerifyAudit implements httpapi.Admin.
func (s *Server) VerifyAudit(ctx context.Context) (v1.AuditVerification, error) {
	n, probs, err := audit.Verify(ctx, s.s)
	if err != nil {
		return v1.AuditVerification{}, err
	}
	return v1.AuditVerification{Entries: n, OK: len(probs) == 0, Problems: probs}, nil
}

package server

import (
	"context"
	"crypto/ed25519"
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
			if sp.Placement != nil {
				ivs = append(ivs, s.intervals(r, *sp.Placement, sp.Start, sp.End)...)
			}
			for _, h := range sp.Held {
				ivs = append(ivs, s.interval(r, h.Site, h.Model, h.MilliCards, sp.Start, sp.End)...)
			}
		}
		if r.Placement != nil && r.PlacedAt != nil {
			var end time.Time
			if r.EndedAt != nil {
				end = *r.EndedAt
			}
			ivs = append(ivs, s.intervals(r, *r.Placement, *r.PlacedAt, end)...)
		}
	}
	prices, err := s.priceTable(ctx)
	if err != nil {
		return v1.Usage{}, err
	}
	u, err := ledger.Meter(model.TenantID(tenant), month, ivs, prices, s.now().Unix())
	if err != nil {
		return v1.Usage{}, fmt.Errorf("%w: %v", httpapi.ErrInvalid, err)
	}
	return usageWire(u), nil
}

// usageWire converts metered usage to its API form.
func usageWire(u ledger.Usage) v1.Usage {
	out := v1.Usage{Tenant: string(u.Tenant), Month: u.Month, Lines: []v1.UsageLine{}, CardHoursMilli: u.CardHoursMilli, PFLOPHoursMilli: u.PFLOPHoursMilli, CostFen: u.CostFen,
		KWhMilli: u.KWhMilli, KgCO2Milli: u.KgCO2Milli, EnergyFen: u.EnergyFen}
	for _, l := range u.Lines {
		out.Lines = append(out.Lines, v1.UsageLine{Site: string(l.Site), Model: l.Model, Ownership: string(l.Ownership),
			CardHoursMilli: l.CardHoursMilli, PFLOPHoursMilli: l.PFLOPHoursMilli, FenPerCardHour: l.FenPerCardHour, FenPerPFLOPHour: l.FenPerPFLOPHour, CostFen: l.CostFen,
			KWhMilli: l.KWhMilli, KgCO2Milli: l.KgCO2Milli, EnergyFen: l.EnergyFen, UnmeteredCardHoursMilli: l.UnmeteredMilliCardSeconds / 3600})
	}
	return out
}

// intervals splits a placement held over [start, end) into per-assignment
// metering intervals (end zero: still held).
func (s *Server) intervals(r *jobRecord, p model.Placement, start, end time.Time) []ledger.Interval {
	var out []ledger.Interval
	for _, a := range p.Assignments {
		var site model.SiteID
		if n, ok := s.net.Node(a.Node); ok {
			site = n.Site
		}
		out = append(out, s.interval(r, site, a.Model, assignmentMilli(a), start, end)...)
	}
	return out
}

// interval is one metering interval: milli cards of a model at a site
// held over [start, end) (end zero: still held); none when empty.
func (s *Server) interval(r *jobRecord, site model.SiteID, mdl string, milli int64, start, end time.Time) []ledger.Interval {
	iv := ledger.Interval{Tenant: r.Spec.Tenant, Job: r.Spec.ID, Model: mdl, Site: site, Start: start.Unix(), MilliCards: milli}
	if !end.IsZero() {
		iv.End = end.Unix()
		if iv.End <= iv.Start {
			return nil
		}
	}
	st, _ := s.net.Site(site)
	if st != nil {
		iv.Ownership = st.Ownership
		iv.PowerFenPerKWh = st.PowerFenPerKWh
	}
	en, _ := s.net.SiteEnergy(site)
	if en != nil {
		iv.GCO2PerKWh = en.GCO2PerKWh
	}
	if m := s.net.Model(mdl); m != nil {
		g, _, _ := m.FP16GFLOPS()
		iv.GFLOPS = g * iv.MilliCards / model.MilliCard
		if st != nil {
			iv.FacilityW, _, _ = ledger.CardFacilityW(m, st, en)
		}
	}
	return []ledger.Interval{iv}
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

// VerifyAudit implements httpapi.Admin: the hash chain, and with keys
// (base64 ed25519 public keys) the signed head and checkpoints.
func (s *Server) VerifyAudit(ctx context.Context, keys []string) (v1.AuditVerification, error) {
	var trusted map[string]ed25519.PublicKey
	if len(keys) > 0 {
		var err error
		if trusted, err = audit.ParseKeys(keys); err != nil {
			return v1.AuditVerification{}, fmt.Errorf("%w: %v", httpapi.ErrInvalid, err)
		}
	}
	n, probs, err := audit.Verify(ctx, s.s, trusted)
	if err != nil {
		return v1.AuditVerification{}, err
	}
	return v1.AuditVerification{Entries: n, OK: len(probs) == 0, Problems: probs, Signed: trusted != nil}, nil
}

// verifyAuditAtStart checks the log against this replica's own key and
// says what it found.
func (s *Server) verifyAuditAtStart(ctx context.Context) {
	if s.cfg.AuditKey == nil {
		return
	}
	signer := audit.NewSigner(s.cfg.AuditKey)
	v, err := s.VerifyAudit(ctx, []string{signer.Public()})
	if err == nil {
		var prob string
		if prob, err = audit.Witness(s.cfg.AuditWitness).Check(ctx, s.s); prob != "" {
			v.OK, v.Problems = false, append(v.Problems, prob)
		}
	}
	switch {
	case err != nil:
		s.log.Warn("audit log not verified at start", "err", err)
	case !v.OK:
		s.log.Error("AUDIT LOG FAILS VERIFICATION: it was edited, truncated or signed by another key", "entries", v.Entries, "problems", len(v.Problems), "first", v.Problems[0])
		s.m.auditBroken.Set(1)
	default:
		s.log.Info("audit log verified", "entries", v.Entries, "key", signer.Public())
	}
}

package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/core"
	"github.com/suanli/suanli/internal/httpapi"
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/sched"
	"github.com/suanli/suanli/internal/store"
)

// dryRunID is the id a dry-run job carries through the scheduler.
const dryRunID model.JobID = "j-dry-run"

// DryRun implements httpapi.Jobs: the scheduler's decision on the job
// against a snapshot of the live allocation (this replica's view), with
// the tenant's quota and holdings and the policy in force. It stores
// nothing and holds no capacity. Jobs waiting in the queue ahead of it are
// not counted, so a real submit may be placed later or elsewhere.
func (s *Server) DryRun(ctx context.Context, p httpapi.Principal, spec model.Job) (v1.DryRun, error) {
	if err := s.admit(ctx, &spec); err != nil {
		return v1.DryRun{}, err
	}
	t, err := s.modelTenant(ctx, spec.Tenant)
	if err != nil {
		return v1.DryRun{}, err
	}
	if err := s.v.wait(ctx); err != nil {
		return v1.DryRun{}, err
	}
	s.emptyOnce.Do(func() { s.empty = sched.NewCluster(s.net) })
	c := s.empty.Clone()
	for i := range s.net.Nodes {
		id := s.net.Nodes[i].ID
		if rec, _, ok := s.v.node(id); ok && rec.State != v1.NodeReady {
			c.SetNodeHealthy(id, false)
		}
	}
	in := sched.Input{Tenant: &t, HeldCards: map[string]int{}}
	rt := dryRates{s: s, ctx: ctx}
	vendorMilli := map[string]int64{}
	for _, j := range s.v.liveJobs() {
		pl := j.rec.Placement
		if err := c.Apply(*pl); err != nil {
			return v1.DryRun{}, fmt.Errorf("dry run: snapshot: %w", err)
		}
		if j.rec.Spec.Tenant != t.ID {
			continue
		}
		g, err := rt.charged(&j.rec.Spec, pl)
		if err != nil {
			return v1.DryRun{}, err
		}
		in.HeldGFLOPS += g
		for _, a := range pl.Assignments {
			milli := int64(len(a.Cards)) * model.MilliCard
			if a.ShareMilli > 0 {
				milli = int64(a.ShareMilli) * int64(max(1, len(a.Cards)))
			}
			if m := s.net.Model(a.Model); m != nil {
				vendorMilli[m.Vendor] += milli
			}
		}
	}
	for v, m := range vendorMilli {
		in.HeldCards[v] = int((m + model.MilliCard - 1) / model.MilliCard)
	}
	if snap := s.pol.Load().Snapshot(); snap.Revision() > 0 {
		in.Policy = &policyFilter{snap: snap, tenants: map[model.TenantID]*model.Tenant{t.ID: &t}}
	}
	if spec.WorkloadClass != "" && len(spec.Rates) == 0 {
		// Ranked by its class's rates, as the scheduler would.
		rows, from, err := rt.class()
		if err != nil {
			return v1.DryRun{}, err
		}
		spec.Rates, in.Learned = rows[spec.WorkloadClass], from[spec.WorkloadClass]
		in.RatesFrom = "class " + spec.WorkloadClass + ", " + ratesSource
	}
	in.EffectiveMilli = rt.effMilli(spec.Rates)
	spec.ID = dryRunID
	d := sched.Schedule(c, &spec, in, s.cfg.Sched)
	return dryRunWire(s, &d), nil
}

// dryRates is what a dry run needs of throughput: the class rates, read
// once when first needed, and the charges of effective-share mode, which
// it counts as the scheduler does (core.EffectiveMilli, ChargedGFLOPS).
// Placed jobs are charged at the rates of now, the core at those of
// their placement: the two differ only after the rates moved.
type dryRates struct {
	s      *Server
	ctx    context.Context
	loaded bool
	rows   map[string]map[string]float64
	from   map[string]map[string]bool
}

func (r *dryRates) class() (map[string]map[string]float64, map[string]map[string]bool, error) {
	if !r.loaded {
		learned, err := r.s.learnedRates(r.ctx)
		if err != nil {
			return nil, nil, err
		}
		r.rows, r.from = r.s.classRates(learned)
		r.loaded = true
	}
	return r.rows, r.from, nil
}

// effMilli is core.EffectiveMilli for a job with these rates in
// effective-share mode; nil in peak mode.
func (r *dryRates) effMilli(rates map[string]float64) map[string]int64 {
	if !r.s.cfg.EffectiveShare {
		return nil
	}
	ref := r.s.cfg.ReferenceModel
	if ref == "" {
		ref = core.DefaultReferenceModel
	}
	return core.EffectiveMilli(r.s.net.Model, ref, rates)
}

// charged is what a placed job is charged toward its tenant's quota.
func (r *dryRates) charged(spec *model.Job, p *model.Placement) (int64, error) {
	if !r.s.cfg.EffectiveShare {
		return p.GFLOPS, nil
	}
	rates := spec.Rates
	if len(rates) == 0 && spec.WorkloadClass != "" {
		rows, _, err := r.class()
		if err != nil {
			return 0, err
		}
		rates = rows[spec.WorkloadClass]
	}
	return core.ChargedGFLOPS(r.s.net.Model, p, r.effMilli(rates)), nil
}

// modelTenant reads a tenant's definition.
func (s *Server) modelTenant(ctx context.Context, id model.TenantID) (model.Tenant, error) {
	kv, err := s.s.Get(ctx, tenantPrefix+string(id))
	if errors.Is(err, store.ErrNotFound) {
		return model.Tenant{}, fmt.Errorf("tenant %q: %w", id, httpapi.ErrNotFound)
	}
	if err != nil {
		return model.Tenant{}, fmt.Errorf("read tenant %s: %w", id, err)
	}
	var t model.Tenant
	if err := json.Unmarshal(kv.Value, &t); err != nil {
		return model.Tenant{}, fmt.Errorf("decode tenant %s: %w", id, err)
	}
	return t, nil
}

// dryRunWire converts a decision to the API's dry-run reply, reusing the
// job record's conversions so that the placement and the explanation read
// as they will once the job is submitted.
func dryRunWire(s *Server, d *sched.Decision) v1.DryRun {
	raw, _ := json.Marshal(d)
	rec := &jobRecord{Spec: model.Job{ID: dryRunID}, State: model.Blocked, Placement: d.Placement, Decision: raw}
	if d.Placement != nil {
		rec.State = model.Placed
	}
	out := v1.DryRun{Placeable: d.Placement != nil, Placement: rec.wire(s.net, 0).Placement, Explanation: rec.explain()}
	out.Explanation.Job = ""
	out.Explanation.State = "dry-run"
	if sc := d.Score; sc != nil {
		out.Score = &v1.Score{Total: sc.Total, Frag: sc.Frag, Topology: sc.Topology, Heterogeneity: sc.Heterogeneity, Cost: sc.Cost, Place: sc.Place}
		if t := sc.Terms; t != nil {
			wt := v1.PlaceTerms(*t)
			out.Score.Terms = &wt
		}
	}
	for _, a := range d.Alternatives {
		what := fmt.Sprintf("%d × %s", a.Cards, a.Model)
		if a.Cards == 0 {
			what = "a share of " + a.Model
		}
		out.Alternatives = append(out.Alternatives, fmt.Sprintf("%s on %s %s, score %d", what, a.Scope, a.Where, a.Score.Total))
	}
	return out
}

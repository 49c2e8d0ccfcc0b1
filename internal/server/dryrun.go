package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	v1 "github.com/suanli/suanli/api/v1"
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
	vendorMilli := map[string]int64{}
	for _, j := range s.v.liveJobs() {
		pl := j.rec.Placement
		if err := c.Apply(*pl); err != nil {
			return v1.DryRun{}, fmt.Errorf("dry run: snapshot: %w", err)
		}
		if j.rec.Spec.Tenant != t.ID {
			continue
		}
		in.HeldGFLOPS += pl.GFLOPS
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
		learned, err := s.learnedRates(ctx)
		if err != nil {
			return v1.DryRun{}, err
		}
		spec.Rates = s.classRates(learned)[spec.WorkloadClass]
		in.RatesFrom = "class " + spec.WorkloadClass + ", " + ratesSource
	}
	spec.ID = dryRunID
	d := sched.Schedule(c, &spec, in, s.cfg.Sched)
	return dryRunWire(s, &d), nil
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

package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/suanli/suanli/internal/httpapi"
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/sched"
	"github.com/suanli/suanli/internal/store"
)

// unfitError refuses a job that can never fit: the limit in words and
// what to change; it is httpapi.ErrUnsatisfiable (422).
type unfitError struct{ u *sched.Unfit }

func (e unfitError) Error() string { return e.u.Text + "; " + e.u.Fix }
func (e unfitError) Unwrap() error { return httpapi.ErrUnsatisfiable }

// fits refuses a job that could never be placed on the network even
// empty, under the policy in force for its tenant. The scheduler checks
// again for jobs already stored: it fails those the network rules out
// with can-never-fit, and holds those only the policy rules out until the
// policy changes.
func (s *Server) fits(ctx context.Context, spec *model.Job) error {
	if err := s.policyLoaded(ctx); err != nil {
		return err
	}
	var pol sched.Policy
	if snap := s.pol.Load().Snapshot(); snap.Revision() > 0 {
		t, err := s.tenantOf(ctx, spec.Tenant)
		if err != nil {
			return err
		}
		pol = snap.For(t)
	}
	if u := s.limits.FitsEmpty(spec, pol, s.cfg.Sched); u != nil {
		return unfitError{u}
	}
	return nil
}

// tenantOf reads a tenant's record (nil when it has none).
func (s *Server) tenantOf(ctx context.Context, id model.TenantID) (*model.Tenant, error) {
	kv, err := s.s.Get(ctx, tenantPrefix+string(id))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read tenant %s: %w", id, err)
	}
	var t model.Tenant
	if err := json.Unmarshal(kv.Value, &t); err != nil {
		return nil, fmt.Errorf("decode tenant %s: %w", id, err)
	}
	return &t, nil
}

package server

import (
	"context"
	"errors"
	"fmt"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/httpapi"
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/sched"
	"github.com/suanli/suanli/internal/store"
)

// tenantExists reports whether the tenant is registered: ErrNotFound-
// wrapped when not. Tenants are never deleted, so a tenant once seen is
// remembered and costs no store read again.
func (s *Server) tenantExists(ctx context.Context, id model.TenantID) error {
	if _, ok := s.tenantSeen.Load(id); ok {
		return nil
	}
	_, err := s.s.Get(ctx, tenantPrefix+string(id))
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("tenant %q: %w: register it first (PUT /v1/tenants/%s, or `suanli tenant create`)", id, httpapi.ErrNotFound, id)
	}
	if err != nil {
		return fmt.Errorf("read tenant %s: %w", id, err)
	}
	s.tenantSeen.Store(id, struct{}{})
	return nil
}

// admit checks what a job needs beyond its own validity: a registered
// tenant, so that its quota and policy class apply, and models, sites,
// regions and stacks the network has. It lists every problem.
func (s *Server) admit(ctx context.Context, j *model.Job) error {
	var probs httpapi.Problems
	err := s.tenantExists(ctx, j.Tenant)
	switch {
	case errors.Is(err, httpapi.ErrNotFound):
		probs = append(probs, v1.Problem{Field: "tenant", Message: fmt.Sprintf("%q is not a registered tenant; an operator registers it first (PUT /v1/tenants/%s, or `suanli tenant create`)", j.Tenant, j.Tenant)})
	case err != nil:
		return err
	}
	s.namesOnce.Do(func() { s.names = sched.NewNames(s.net) })
	probs = append(probs, httpapi.ProblemsOf(s.names.Check(j), "")...)
	if c := j.WorkloadClass; c != "" {
		if _, ok := s.throughput().Class(c); !ok {
			probs = append(probs, v1.Problem{Field: "workload_class", Message: fmt.Sprintf("%q is not a workload class; `suanli throughput` lists them (%s)", c, classList(s.throughput()))})
		}
	}
	if len(probs) > 0 {
		return probs
	}
	return nil
}

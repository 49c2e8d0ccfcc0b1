package server

import (
	"context"
	"errors"
	"fmt"

	"github.com/suanli/suanli/internal/httpapi"
	"github.com/suanli/suanli/internal/model"
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
// tenant, so that its quota and policy class apply.
func (s *Server) admit(ctx context.Context, j *model.Job) error {
	err := s.tenantExists(ctx, j.Tenant)
	if errors.Is(err, httpapi.ErrNotFound) {
		return httpapi.Problems{{Field: "tenant", Message: fmt.Sprintf("%q is not a registered tenant; an operator registers it first (PUT /v1/tenants/%s, or `suanli tenant create`)", j.Tenant, j.Tenant)}}
	}
	return err
}

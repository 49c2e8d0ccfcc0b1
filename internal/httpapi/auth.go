package httpapi

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"

	v1 "github.com/suanli/suanli/api/v1"
)

// Principal is who a request acts as, from its bearer token.
type Principal struct {
	TokenID string
	Role    string
	Tenant  string // the tenant role's own tenant
}

// Actor names the principal in the audit log (never the secret).
func (p Principal) Actor() string {
	if p.Tenant != "" {
		return p.Role + ":" + p.TokenID + "@" + p.Tenant
	}
	return p.Role + ":" + p.TokenID
}

// SeesTenant reports whether the principal may see and act on a tenant's
// jobs and usage: a tenant only its own, admins and operators every one.
func (p Principal) SeesTenant(tenant string) bool {
	switch p.Role {
	case v1.RoleAdmin, v1.RoleOperator:
		return true
	case v1.RoleTenant:
		return p.Tenant == tenant
	}
	return false
}

// ValidRole reports whether r is one of the four roles.
func ValidRole(r string) bool {
	switch r {
	case v1.RoleAdmin, v1.RoleOperator, v1.RoleTenant, v1.RoleAgent:
		return true
	}
	return false
}

// NewSecret returns a fresh random 256-bit bearer token, hex encoded.
func NewSecret() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("read random: %w", err)
	}
	return "sl_" + hex.EncodeToString(b[:]), nil
}

// HashSecret is how secrets are stored and looked up: SHA-256, hex. A
// 256-bit random secret needs no salt or stretching.
func HashSecret(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// Authenticator resolves a bearer secret to its principal.
type Authenticator interface {
	// Authenticate returns the token's principal, or an error wrapping
	// ErrUnauthorized.
	Authenticate(ctx context.Context, secret string) (Principal, error)
}

type principalKey struct{}

func withPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the request's principal (zero for public routes).
func PrincipalFrom(ctx context.Context) Principal {
	p, _ := ctx.Value(principalKey{}).(Principal)
	return p
}

// bearer extracts the token from an Authorization header.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return "", false
	}
	return strings.TrimSpace(tok), true
}

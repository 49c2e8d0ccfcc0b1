package httpapi

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strings"

	v1 "github.com/suanli/suanli/api/v1"
)

// Principal is who a request acts as, from its bearer token or its
// client certificate.
type Principal struct {
	TokenID string
	Role    string
	Tenant  string // the tenant role's own tenant
	// Node is the one node an agent acts for; Sites the sites whose nodes
	// a bridge's agent token acts for, or where a bootstrap token may
	// join nodes.
	Node  string
	Sites []string
}

// ActsFor checks that the principal may act as the agent of node, which
// the network puts in site: staff always, an agent bound to that node or
// to its site; everyone else is refused with ErrForbidden.
func (p Principal) ActsFor(node, site string) error {
	switch {
	case p.Role == v1.RoleAdmin || p.Role == v1.RoleOperator:
		return nil
	case p.Role != v1.RoleAgent && p.Role != v1.RoleBootstrap:
		return fmt.Errorf("%w: a %s token does not act for nodes", ErrForbidden, p.Role)
	case p.Node != "":
		if p.Node == node {
			return nil
		}
		return fmt.Errorf("%w: this credential is node %s's; it may not act for node %s", ErrForbidden, p.Node, node)
	case len(p.Sites) > 0:
		if site != "" && slices.Contains(p.Sites, site) {
			return nil
		}
		return fmt.Errorf("%w: this credential acts for the nodes of sites %s; node %s is not one of them", ErrForbidden, strings.Join(p.Sites, ","), node)
	}
	return fmt.Errorf("%w: this agent token is bound to no node; create one per node (suanli token create --agent --node N) or join with a bootstrap token", ErrForbidden)
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

// ValidRole reports whether r is one of the five roles.
func ValidRole(r string) bool {
	switch r {
	case v1.RoleAdmin, v1.RoleOperator, v1.RoleTenant, v1.RoleAgent, v1.RoleBootstrap:
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

// CertAuthenticator is implemented by backends that can revoke node
// certificates: it checks the principal of a verified client certificate
// (TokenID cert-<serial in hex>) and returns it, or an error wrapping
// ErrUnauthorized.
type CertAuthenticator interface {
	AuthenticateCert(ctx context.Context, p Principal) (Principal, error)
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

// NodeOfCert returns the node a client certificate names: its URI SAN
// suanli:node:<id>, or else its common name suanli:node:<id>. A
// certificate that names no node this way is no node's credential.
func NodeOfCert(c *x509.Certificate) (string, bool) {
	for _, u := range c.URIs {
		if u.Scheme == "suanli" && strings.HasPrefix(u.Opaque, "node:") {
			id := strings.TrimPrefix(u.Opaque, "node:")
			return id, validID(id)
		}
	}
	id, ok := strings.CutPrefix(c.Subject.CommonName, v1.NodeCertURI)
	return id, ok && validID(id)
}

// certPrincipal is the agent a verified client certificate stands for,
// bound to the node it names. TLS verifies client certificates only when
// the server is given a client CA.
func certPrincipal(r *http.Request) (Principal, bool) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return Principal{}, false
	}
	leaf := r.TLS.VerifiedChains[0][0]
	node, ok := NodeOfCert(leaf)
	if !ok {
		return Principal{}, false
	}
	return Principal{TokenID: "cert-" + leaf.SerialNumber.Text(16), Role: v1.RoleAgent, Node: node}, true
}

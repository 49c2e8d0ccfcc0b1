package httpapi

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"net/url"
	"testing"

	v1 "github.com/suanli/suanli/api/v1"
)

// TestNodeOfCert: a certificate names a node by its URI SAN or its
// common name, both suanli:node:<id>; nothing else names a node.
func TestNodeOfCert(t *testing.T) {
	uri := func(s string) []*url.URL { u, _ := url.Parse(s); return []*url.URL{u} }
	for _, tt := range []struct {
		name string
		c    x509.Certificate
		want string
		ok   bool
	}{
		{"uri", x509.Certificate{Subject: pkix.Name{CommonName: "anything"}, URIs: uri("suanli:node:n-1")}, "n-1", true},
		{"cn", x509.Certificate{Subject: pkix.Name{CommonName: "suanli:node:n-2"}}, "n-2", true},
		{"uri beats cn", x509.Certificate{Subject: pkix.Name{CommonName: "suanli:node:n-2"}, URIs: uri("suanli:node:n-1")}, "n-1", true},
		{"bare cn", x509.Certificate{Subject: pkix.Name{CommonName: "n-3"}}, "", false},
		{"other uri", x509.Certificate{URIs: uri("spiffe://x/node/n-1")}, "", false},
		{"bad id", x509.Certificate{URIs: uri("suanli:node:../etc")}, "", false},
		{"empty id", x509.Certificate{Subject: pkix.Name{CommonName: "suanli:node:"}}, "", false},
	} {
		got, ok := NodeOfCert(&tt.c)
		if ok != tt.ok || (ok && got != tt.want) {
			t.Errorf("%s: %q %v, want %q %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

// TestActsFor: staff act for every node; an agent for its node or the
// nodes of its sites; an unbound agent token, a tenant and a bootstrap
// token for none.
func TestActsFor(t *testing.T) {
	for _, tt := range []struct {
		p          Principal
		node, site string
		ok         bool
	}{
		{Principal{Role: v1.RoleAdmin}, "n1", "s1", true},
		{Principal{Role: v1.RoleOperator}, "n1", "s1", true},
		{Principal{Role: v1.RoleAgent, Node: "n1"}, "n1", "s1", true},
		{Principal{Role: v1.RoleAgent, Node: "n1"}, "n2", "s1", false},
		{Principal{Role: v1.RoleAgent, Sites: []string{"s1"}}, "n2", "s1", true},
		{Principal{Role: v1.RoleAgent, Sites: []string{"s1"}}, "n3", "s2", false},
		{Principal{Role: v1.RoleAgent, Sites: []string{"s1"}}, "unknown", "", false},
		{Principal{Role: v1.RoleAgent}, "n1", "s1", false},
		{Principal{Role: v1.RoleBootstrap}, "n1", "s1", false},
		{Principal{Role: v1.RoleTenant, Tenant: "acme"}, "n1", "s1", false},
	} {
		err := tt.p.ActsFor(tt.node, tt.site)
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrForbidden)) {
			t.Errorf("%+v for %s@%s: %v, want ok=%v", tt.p, tt.node, tt.site, err, tt.ok)
		}
	}
}

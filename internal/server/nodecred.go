package server

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/audit"
	"github.com/suanli/suanli/internal/httpapi"
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/store"
)

// nodeCredPrefix + node id holds the id of the token a bootstrap token
// issued to the node: a node joins once while that token lives.
const nodeCredPrefix = "nodecreds/"

// DefaultNodeCertTTL is the lifetime of node certificates the server signs.
const DefaultNodeCertTTL = 90 * 24 * time.Hour

// NodeCA is the client CA whose certificates the API accepts as node
// credentials, with its key to sign the CSRs of joining nodes.
type NodeCA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	PEM  []byte        // Cert, PEM encoded, handed to joining nodes
	TTL  time.Duration // of the certificates signed (default DefaultNodeCertTTL)
}

// LoadNodeCA reads a CA certificate and its key (PEM files).
func LoadNodeCA(certFile, keyFile string) (*NodeCA, error) {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("client CA %s and key %s: %w", certFile, keyFile, err)
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("client CA %s: %w", certFile, err)
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("client CA %s is not a CA certificate (basic constraints CA:TRUE)", certFile)
	}
	key, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("client CA key %s cannot sign", keyFile)
	}
	return &NodeCA{Cert: cert, Key: key, PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})}, nil
}

// sign issues a client certificate for node to the CSR's key and returns
// it (PEM) with its serial number in hex.
func (ca *NodeCA) sign(node string, csr *x509.CertificateRequest, now time.Time) ([]byte, string, error) {
	ttl := ca.TTL
	if ttl <= 0 {
		ttl = DefaultNodeCertTTL
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, "", err
	}
	end := now.Add(ttl)
	if end.After(ca.Cert.NotAfter) {
		end = ca.Cert.NotAfter
	}
	u, _ := url.Parse(v1.NodeCertURI + node)
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: v1.NodeCertURI + node},
		URIs:         []*url.URL{u},
		NotBefore:    now.Add(-time.Minute),
		NotAfter:     end,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, csr.PublicKey, ca.Key)
	if err != nil {
		return nil, "", fmt.Errorf("sign the certificate of node %s: %w", node, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), serial.Text(16), nil
}

// parseCSR reads a node's certificate request: PEM, self-signed, naming
// the node.
func parseCSR(node, text string) (*x509.CertificateRequest, error) {
	blk, _ := pem.Decode([]byte(text))
	if blk == nil || blk.Type != "CERTIFICATE REQUEST" {
		return nil, httpapi.Problems{{Field: "csr", Message: "not a PEM CERTIFICATE REQUEST"}}
	}
	csr, err := x509.ParseCertificateRequest(blk.Bytes)
	if err != nil {
		return nil, httpapi.Problems{{Field: "csr", Message: err.Error()}}
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, httpapi.Problems{{Field: "csr", Message: "the request's signature does not verify: " + err.Error()}}
	}
	if named, ok := httpapi.NodeOfCert(&x509.Certificate{Subject: csr.Subject, URIs: csr.URIs}); !ok || named != node {
		return nil, httpapi.Problems{{Field: "csr", Message: fmt.Sprintf("names node %q; a node asks for its own certificate: common name or URI %s%s", named, v1.NodeCertURI, node)}}
	}
	return csr, nil
}

// actsFor checks that p may act as node's agent.
func (s *Server) actsFor(p httpapi.Principal, node string) error {
	site := ""
	if n, ok := s.net.Node(model.NodeID(node)); ok {
		site = string(n.Site)
	}
	return p.ActsFor(node, site)
}

// NodeCredential implements httpapi.Nodes: a bootstrap token joins a
// node. The node gets its own agent token (and, for a CSR, a certificate
// when the server holds a client CA key), once: while that token lives a
// second join of the node is refused, so a leaked bootstrap token cannot
// take over a node that has joined.
func (s *Server) NodeCredential(ctx context.Context, p httpapi.Principal, node string, req v1.NodeCredentialRequest) (v1.NodeCredential, error) {
	n, ok := s.net.Node(model.NodeID(node))
	if !ok {
		return v1.NodeCredential{}, fmt.Errorf("node %q is not a node of network %s; add it to the network spec first: %w", node, s.net.Name, httpapi.ErrNotFound)
	}
	if p.Role != v1.RoleBootstrap {
		return v1.NodeCredential{}, fmt.Errorf("%w: only a bootstrap token joins nodes", httpapi.ErrForbidden)
	}
	if len(p.Sites) > 0 {
		if err := p.ActsFor(node, string(n.Site)); err != nil {
			return v1.NodeCredential{}, err
		}
	}
	var csr *x509.CertificateRequest
	if req.CSR != "" {
		var err error
		if csr, err = parseCSR(node, req.CSR); err != nil {
			return v1.NodeCredential{}, err
		}
	}
	now := s.now().UTC()
	markKey := nodeCredPrefix + node
	var markRev int64
	switch mark, err := s.s.Get(ctx, markKey); {
	case err == nil:
		markRev = mark.ModRev
	case !errors.Is(err, store.ErrNotFound):
		return v1.NodeCredential{}, fmt.Errorf("read the credential of node %s: %w", node, err)
	}
	secrets, err := s.tokenSecrets(ctx)
	if err != nil {
		return v1.NodeCredential{}, err
	}
	for _, ss := range secrets {
		for _, o := range ss {
			if o.rec.Role == v1.RoleAgent && o.rec.Node == node && o.rec.live(now) {
				return v1.NodeCredential{}, fmt.Errorf("%w: node %s holds a live credential, token %s; to join it again revoke that token (suanli token revoke %s)",
					httpapi.ErrConflict, node, o.rec.ID, o.rec.ID)
			}
		}
	}
	var out v1.NodeCredential
	out.Node = node
	t := tokenRecord{ID: newTokenID(), Role: v1.RoleAgent, Node: node, Name: "node " + node + " (joined with " + p.TokenID + ")", CreatedAt: now, IssuedAt: now}
	if csr != nil && s.cfg.NodeCA != nil {
		certPEM, serial, err := s.cfg.NodeCA.sign(node, csr, now)
		if err != nil {
			return v1.NodeCredential{}, err
		}
		out.Certificate, out.CA, t.CertSerial = string(certPEM), string(s.cfg.NodeCA.PEM), serial
	}
	m := &mutation{conds: []store.Cond{{Key: markKey, ModRev: markRev}}, ops: []store.Op{store.PutOp(markKey, []byte(t.ID))},
		audit: []audit.Record{{Actor: p.Actor(), Action: "node.join", Target: node, Detail: fmt.Sprintf("token=%s certificate=%q", t.ID, t.CertSerial)}}}
	tok, err := s.storeToken(ctx, p, t, m)
	if errors.Is(err, store.ErrConflict) {
		return v1.NodeCredential{}, fmt.Errorf("node %s is joining from elsewhere at the same time: %w", node, httpapi.ErrConflict)
	}
	if err != nil {
		return v1.NodeCredential{}, err
	}
	out.Token = tok
	return out, nil
}

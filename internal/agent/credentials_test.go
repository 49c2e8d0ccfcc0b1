package agent_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/agent"
	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/httpapi"
	"github.com/suanli/suanli/internal/network"
	"github.com/suanli/suanli/internal/pkitest"
	"github.com/suanli/suanli/internal/server"
	"github.com/suanli/suanli/internal/store/mem"
)

// tlsServer serves h over TLS with the pair; with clientCA it verifies
// the client certificates it is given against it.
func tlsServer(t *testing.T, h http.Handler, pair pkitest.Pair, clientCA *pkitest.CA) *httptest.Server {
	t.Helper()
	cert, err := tls.X509KeyPair(pair.CertPEM, pair.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(h)
	ts.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	if clientCA != nil {
		pool := x509.NewCertPool()
		pool.AddCert(clientCA.Cert)
		ts.TLS.ClientCAs, ts.TLS.ClientAuth = pool, tls.VerifyClientCertIfGiven
	}
	ts.StartTLS()
	t.Cleanup(ts.Close)
	return ts
}

func client(t *testing.T, url, token string, files agent.TLSFiles) *v1.Client {
	t.Helper()
	hc, err := agent.HTTPClient(files)
	if err != nil {
		t.Fatal(err)
	}
	c := v1.NewClient(url, token)
	c.HTTP = hc
	return c
}

// TestPinnedCA: an agent given --ca-file talks to a server whose
// certificate that CA signed, and refuses one signed by any other CA.
func TestPinnedCA(t *testing.T) {
	health := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	})
	ca := pkitest.NewCA(t, "suanli-ca")
	ours := tlsServer(t, health, ca.Server(t, "api"), nil)
	theirs := tlsServer(t, health, pkitest.NewCA(t, "other-ca").Server(t, "impostor"), nil)
	selfSigned := httptest.NewTLSServer(health)
	defer selfSigned.Close()
	ctx := context.Background()
	pinned := agent.TLSFiles{CAFile: ca.CertFile}
	if _, err := client(t, ours.URL, "", pinned).Health(ctx); err != nil {
		t.Fatalf("server inside the pinned CA: %v", err)
	}
	for name, url := range map[string]string{"another CA": theirs.URL, "httptest's own": selfSigned.URL} {
		_, err := client(t, url, "", pinned).Health(ctx)
		var ua x509.UnknownAuthorityError
		if !errors.As(err, &ua) {
			t.Errorf("server signed by %s: %v, want an unknown-authority refusal", name, err)
		}
	}
	if _, err := agent.HTTPClient(agent.TLSFiles{CertFile: "x.crt"}); err == nil {
		t.Error("a certificate without its key accepted")
	}
}

// TestNodeJoinsWithBootstrapToken: over mutual TLS, a bootstrap token
// joins a node once (a key, a CSR, a certificate naming the node signed by
// the server's client CA); the certificate alone then acts for that node
// and no other; a second join is refused while the node's credential
// lives; an operator-issued certificate works the same way; a certificate
// from another CA is refused in the handshake.
func TestNodeJoinsWithBootstrapToken(t *testing.T) {
	ca := pkitest.NewCA(t, "suanli-ca")
	nodeCA, err := server.LoadNodeCA(ca.CertFile, ca.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	nw, err := network.Default(catalog.Default())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Store: mem.New(mem.Config{}), Network: nw, NodeCA: nodeCA})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Run(ctx) }()
	defer func() { cancel(); <-done }()
	ts := tlsServer(t, httpapi.New(httpapi.Config{Backend: srv, Registry: srv.Registry()}), ca.Server(t, "api"), ca)
	path := filepath.Join(t.TempDir(), "admin.token")
	if _, err := srv.Bootstrap(ctx, path); err != nil {
		t.Fatal(err)
	}
	secret, _ := os.ReadFile(path)
	pinned := agent.TLSFiles{CAFile: ca.CertFile}
	admin := client(t, ts.URL, strings.TrimSpace(string(secret)), pinned)
	boot, err := admin.CreateToken(ctx, v1.TokenRequest{Role: v1.RoleBootstrap, Name: "rack 7"})
	if err != nil {
		t.Fatal(err)
	}
	if boot.ExpiresAt == nil {
		t.Error("a bootstrap token without expiry")
	}
	node, other := string(nw.Nodes[0].ID), string(nw.Nodes[1].ID)
	bc := client(t, ts.URL, boot.Secret, pinned)
	if err := bc.Get(ctx, "/v1/nodes/"+node+"/assignments", new([]v1.Job)); !isStatus(err, 403) {
		t.Fatalf("the bootstrap token read assignments: %v, want 403", err)
	}
	dir := t.TempDir()
	cred, err := agent.Join(ctx, bc, node, dir)
	if err != nil {
		t.Fatal(err)
	}
	if cred.CertFile == "" || cred.Token == "" {
		t.Fatalf("credential %+v: want a token and a certificate", cred)
	}
	for _, f := range []string{"node.token", "node.key", "node.crt"} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v, want mode 0600", f, fi, err)
		}
	}
	again, err := agent.Join(ctx, bc, node, dir)
	if err != nil || again != cred {
		t.Fatalf("join with a kept credential: %+v %v", again, err)
	}
	if _, err := agent.Join(ctx, bc, node, t.TempDir()); !isStatus(err, 409) {
		t.Fatalf("second join of the node: %v, want 409", err)
	}

	// The certificate alone, no bearer token, is the node's credential.
	byCert := client(t, ts.URL, "", agent.TLSFiles{CAFile: ca.CertFile, CertFile: cred.CertFile, KeyFile: cred.KeyFile})
	if _, err := byCert.RegisterNode(ctx, v1.NodeRegistration{Node: node, Devices: []v1.NodeDevice{}}); err != nil {
		t.Fatalf("register with the node certificate: %v", err)
	}
	if _, err := byCert.RegisterNode(ctx, v1.NodeRegistration{Node: other, Devices: []v1.NodeDevice{}}); !isStatus(err, 403) {
		t.Fatalf("register another node with the certificate: %v, want 403", err)
	}
	if _, err := byCert.Assignments(ctx, other); !isStatus(err, 403) {
		t.Fatalf("another node's assignments with the certificate: %v, want 403", err)
	}
	if _, err := byCert.Tokens(ctx); !isStatus(err, 403) {
		t.Fatalf("a node certificate listed tokens: %v, want 403", err)
	}

	// An operator-issued certificate: the URI SAN names the node.
	op := ca.Client(t, "rack-7-node-1", v1.NodeCertURI+other)
	byOp := client(t, ts.URL, "", agent.TLSFiles{CAFile: ca.CertFile, CertFile: op.CertFile, KeyFile: op.KeyFile})
	if _, err := byOp.RegisterNode(ctx, v1.NodeRegistration{Node: other, Devices: []v1.NodeDevice{}}); err != nil {
		t.Fatalf("register with an operator-issued certificate: %v", err)
	}

	// A certificate naming the node, from another CA: refused.
	forged := pkitest.NewCA(t, "forger").Client(t, v1.NodeCertURI+node)
	byForged := client(t, ts.URL, "", agent.TLSFiles{CAFile: ca.CertFile, CertFile: forged.CertFile, KeyFile: forged.KeyFile})
	if _, err := byForged.RegisterNode(ctx, v1.NodeRegistration{Node: node, Devices: []v1.NodeDevice{}}); err == nil {
		t.Fatal("a certificate from another CA registered the node")
	}
	// Revoking the node's token revokes the certificate signed with it;
	// an operator-issued certificate is revoked by its id cert-<serial>.
	ts2, err := admin.Tokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range ts2 {
		if tk.Node == node {
			if err := admin.RevokeToken(ctx, tk.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := byCert.Assignments(ctx, node); !isStatus(err, 401) {
		t.Fatalf("the certificate of a revoked node token: %v, want 401", err)
	}
	opCert, _ := tls.X509KeyPair(op.CertPEM, op.KeyPEM)
	leaf, _ := x509.ParseCertificate(opCert.Certificate[0])
	if err := admin.RevokeToken(ctx, "cert-"+leaf.SerialNumber.Text(16)); err != nil {
		t.Fatal(err)
	}
	if _, err := byOp.Assignments(ctx, other); !isStatus(err, 401) {
		t.Fatalf("a revoked operator-issued certificate: %v, want 401", err)
	}
	if err := admin.RevokeToken(ctx, "cert-xyz"); !isStatus(err, 400) {
		t.Fatalf("revoke cert-xyz: %v, want 400", err)
	}
	// The node joins again once its old credential is revoked.
	if _, err := agent.Join(ctx, bc, node, t.TempDir()); err != nil {
		t.Fatalf("join after revocation: %v", err)
	}

	// No certificate and no token: 401.
	if _, err := client(t, ts.URL, "", pinned).Assignments(ctx, node); !isStatus(err, 401) {
		t.Fatalf("no credential: %v, want 401", err)
	}
}

func isStatus(err error, code int) bool {
	var e *v1.Error
	return errors.As(err, &e) && e.Status == code
}

package agent

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
)

// TLSFiles are an agent's TLS settings.
type TLSFiles struct {
	// CAFile pins the server: only certificates signed by this CA are
	// trusted (empty: the system roots).
	CAFile string
	// CertFile and KeyFile are the node's client certificate for mutual
	// TLS: one naming suanli:node:<id> is the node's credential.
	CertFile, KeyFile string
}

// HTTPClient returns an HTTP client with the TLS settings (the default
// transport's timeouts and pooling otherwise).
func HTTPClient(f TLSFiles) (*http.Client, error) {
	if (f.CertFile == "") != (f.KeyFile == "") {
		return nil, errors.New("--cert-file and --key-file go together; give both or neither")
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if f.CAFile != "" {
		b, err := os.ReadFile(f.CAFile)
		if err != nil {
			return nil, fmt.Errorf("--ca-file: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("--ca-file %s holds no PEM certificate", f.CAFile)
		}
	}
	if f.CertFile != "" {
		pair, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("node certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	return &http.Client{Transport: tr}, nil
}

// Credential is a node's own credential as the agent keeps it: a bearer
// token bound to the node and, when the server signed one, a client
// certificate naming the node.
type Credential struct {
	Token             string
	CertFile, KeyFile string // empty: no certificate
}

// Credential files under the agent's credentials directory.
const (
	credToken = "node.token"
	credCert  = "node.crt"
	credKey   = "node.key"
	credCA    = "ca.crt"
)

// LoadCredential reads the node credential kept in dir; ok is false when
// there is none yet.
func LoadCredential(dir string) (c Credential, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, credToken))
	if errors.Is(err, os.ErrNotExist) {
		return Credential{}, false, nil
	}
	if err != nil {
		return Credential{}, false, fmt.Errorf("node credential: %w", err)
	}
	c.Token = strings.TrimSpace(string(b))
	cert, key := filepath.Join(dir, credCert), filepath.Join(dir, credKey)
	if _, err := os.Stat(cert); err == nil {
		c.CertFile, c.KeyFile = cert, key
	}
	return c, true, nil
}

// Join exchanges a bootstrap token (the client's) for the node's own
// credential, the way kubelets bootstrap: it makes a key, asks for a
// certificate naming suanli:node:<node> with a CSR, and keeps the token,
// key and certificate in dir (mode 0600). A node that has joined keeps its
// credential: Join with one already in dir returns it without asking.
func Join(ctx context.Context, c *v1.Client, node, dir string) (Credential, error) {
	if cred, ok, err := LoadCredential(dir); ok || err != nil {
		return cred, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Credential{}, fmt.Errorf("credentials directory: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Credential{}, err
	}
	u, _ := url.Parse(v1.NodeCertURI + node)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: v1.NodeCertURI + node}, URIs: []*url.URL{u}}, key)
	if err != nil {
		return Credential{}, fmt.Errorf("certificate request: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	nc, err := c.NodeCredential(ctx, node, v1.NodeCredentialRequest{CSR: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))})
	if err != nil {
		return Credential{}, fmt.Errorf("join node %s with the bootstrap token: %w", node, err)
	}
	var cred Credential
	if nc.Certificate != "" {
		kder, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			return Credential{}, err
		}
		cred.CertFile, cred.KeyFile = filepath.Join(dir, credCert), filepath.Join(dir, credKey)
		for name, b := range map[string][]byte{cred.KeyFile: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}),
			cred.CertFile: []byte(nc.Certificate), filepath.Join(dir, credCA): []byte(nc.CA)} {
			if err := os.WriteFile(name, b, 0o600); err != nil {
				return Credential{}, fmt.Errorf("keep the node credential: %w", err)
			}
		}
	}
	// The token is written last: its presence means the credential is whole.
	if err := os.WriteFile(filepath.Join(dir, credToken), []byte(nc.Token.Secret+"\n"), 0o600); err != nil {
		return Credential{}, fmt.Errorf("keep the node credential (token %s was issued; revoke it to join again): %w", nc.Token.ID, err)
	}
	cred.Token = nc.Token.Secret
	return cred, nil
}

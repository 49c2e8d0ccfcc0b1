package etcd

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Conn is how to reach an etcd cluster: its client URLs and the TLS files
// Kubernetes names --etcd-cafile, --etcd-certfile and --etcd-keyfile.
type Conn struct {
	Endpoints []string
	CAFile    string // CA that signs the members' certificates (empty: the system roots)
	CertFile  string // client certificate, for clusters with client-cert auth
	KeyFile   string
	// Insecure accepts plaintext (http://) endpoints. Without it they are
	// refused: a store that holds tokens and the audit chain does not
	// travel in the clear.
	Insecure    bool
	DialTimeout time.Duration // default 5 s
}

// ClientConfig checks the endpoints against the TLS settings and returns
// the etcd client configuration, or every problem found.
func (c Conn) ClientConfig() (clientv3.Config, error) {
	var errs []error
	if len(c.Endpoints) == 0 {
		errs = append(errs, errors.New("no etcd endpoints"))
	}
	var plain, secure []string
	for _, ep := range c.Endpoints {
		u, err := url.Parse(ep)
		switch {
		case err == nil && u.Scheme == "https" && u.Host != "":
			secure = append(secure, ep)
		case err == nil && u.Scheme == "http" && u.Host != "", !strings.Contains(ep, "://"):
			plain = append(plain, ep)
		default:
			errs = append(errs, fmt.Errorf("etcd endpoint %q: give https://host:port", ep))
		}
	}
	tlsFiles := c.CAFile != "" || c.CertFile != "" || c.KeyFile != ""
	switch {
	case len(plain) > 0 && len(secure) > 0:
		errs = append(errs, fmt.Errorf("etcd endpoints mix plaintext %v and TLS %v; give https:// for every member", plain, secure))
	case len(plain) > 0 && tlsFiles:
		errs = append(errs, fmt.Errorf("etcd TLS files given but endpoints %v are plaintext; give them as https://", plain))
	case len(plain) > 0 && !c.Insecure:
		errs = append(errs, fmt.Errorf("etcd endpoints %v are plaintext: give https:// endpoints with --etcd-cafile (and --etcd-certfile, --etcd-keyfile for client-cert auth), or --etcd-insecure to accept plaintext", plain))
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		errs = append(errs, errors.New("--etcd-certfile and --etcd-keyfile go together; give both or neither"))
	}
	if len(errs) > 0 {
		return clientv3.Config{}, errors.Join(errs...)
	}
	cfg := clientv3.Config{Endpoints: c.Endpoints, DialTimeout: c.DialTimeout}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	if len(secure) > 0 {
		tc, err := (transport.TLSInfo{CertFile: c.CertFile, KeyFile: c.KeyFile, TrustedCAFile: c.CAFile}).ClientConfig()
		if err != nil {
			return clientv3.Config{}, fmt.Errorf("etcd TLS: %w", err)
		}
		cfg.TLS = tc
	}
	return cfg, nil
}

// Connect dials the cluster and checks that it answers (TLS, client
// certificate and all) before returning a Store that owns the client.
func Connect(ctx context.Context, c Conn, cfg Config) (*Store, error) {
	ccfg, err := c.ClientConfig()
	if err != nil {
		return nil, err
	}
	s, err := Dial(ccfg, cfg)
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, ccfg.DialTimeout)
	defer cancel()
	if _, err := s.cli.Get(pctx, s.prefix+"probe", clientv3.WithCountOnly()); err != nil {
		s.Close()
		return nil, fmt.Errorf("etcd %v does not answer: %w (check the endpoints and --etcd-cafile, --etcd-certfile, --etcd-keyfile)", c.Endpoints, err)
	}
	return s, nil
}

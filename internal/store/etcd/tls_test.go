package etcd_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"

	"github.com/suanli/suanli/internal/pkitest"
	"github.com/suanli/suanli/internal/store"
	"github.com/suanli/suanli/internal/store/etcd"
	"github.com/suanli/suanli/internal/store/etcdtest"
)

// TestTLSClientCertAuth: against an etcd that serves clients over TLS and
// requires client certificates, a client with a certificate from the
// cluster's CA connects and writes; one without a certificate, or with one
// from another CA, is refused; plaintext endpoints are refused unless
// Insecure.
func TestTLSClientCertAuth(t *testing.T) {
	ca := pkitest.NewCA(t, "etcd-ca")
	member := ca.Server(t, "etcd-member")
	c := etcdtest.StartWith(t, 1, etcdtest.Options{ClientTLS: &transport.TLSInfo{
		CertFile: member.CertFile, KeyFile: member.KeyFile, TrustedCAFile: ca.CertFile, ClientCertAuth: true}})
	eps := c.Endpoints()
	if !strings.HasPrefix(eps[0], "https://") {
		t.Fatalf("endpoints %v, want https", eps)
	}
	ctx := context.Background()
	client := ca.Client(t, "suanli")

	s, err := etcd.Connect(ctx, etcd.Conn{Endpoints: eps, CAFile: ca.CertFile, CertFile: client.CertFile, KeyFile: client.KeyFile}, etcd.Config{})
	if err != nil {
		t.Fatalf("with a client certificate: %v", err)
	}
	defer s.Close()
	if _, err := s.Txn(ctx, store.Txn{Ops: []store.Op{store.PutOp("k", []byte("v"))}}); err != nil {
		t.Fatal(err)
	}
	if kv, err := s.Get(ctx, "k"); err != nil || string(kv.Value) != "v" {
		t.Fatalf("get: %v %v", kv, err)
	}

	other := pkitest.NewCA(t, "other-ca").Client(t, "intruder")
	for name, conn := range map[string]etcd.Conn{
		"no client certificate":          {Endpoints: eps, CAFile: ca.CertFile},
		"a certificate from another CA":  {Endpoints: eps, CAFile: ca.CertFile, CertFile: other.CertFile, KeyFile: other.KeyFile},
		"the system roots, not the CA's": {Endpoints: eps, CertFile: client.CertFile, KeyFile: client.KeyFile},
	} {
		conn.DialTimeout = 2 * time.Second
		if s, err := etcd.Connect(ctx, conn, etcd.Config{}); err == nil {
			s.Close()
			t.Errorf("%s: connected, want refused", name)
		}
	}

	plain := []string{strings.Replace(eps[0], "https://", "http://", 1)}
	for name, tt := range map[string]struct {
		conn etcd.Conn
		want string
	}{
		"plaintext":            {etcd.Conn{Endpoints: plain}, "--etcd-insecure"},
		"bare host:port":       {etcd.Conn{Endpoints: []string{"127.0.0.1:2379"}}, "--etcd-insecure"},
		"plaintext with files": {etcd.Conn{Endpoints: plain, CAFile: ca.CertFile, Insecure: true}, "https://"},
		"mixed":                {etcd.Conn{Endpoints: append(plain, eps...), Insecure: true}, "mix"},
		"cert without key":     {etcd.Conn{Endpoints: eps, CertFile: client.CertFile}, "go together"},
		"no endpoints":         {etcd.Conn{}, "no etcd endpoints"},
	} {
		if _, err := tt.conn.ClientConfig(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want an error saying %q", name, err, tt.want)
		}
	}
	if _, err := (etcd.Conn{Endpoints: plain, Insecure: true}).ClientConfig(); err != nil {
		t.Errorf("plaintext with Insecure: %v", err)
	}
}

package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.etcd.io/etcd/client/pkg/v3/transport"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/agent"
	"github.com/suanli/suanli/internal/pkitest"
	"github.com/suanli/suanli/internal/store/etcdtest"
)

// TestServeSecured runs `serve` as the security guide recommends: etcd
// over TLS with a client certificate, HTTPS, a node CA that signs joining
// nodes. An agent pinned to the CA joins with a bootstrap token and
// registers its node with the certificate alone. Without its etcd client
// certificate serve stops with an error naming the flags.
func TestServeSecured(t *testing.T) {
	ca := pkitest.NewCA(t, "suanli-ca")
	member := ca.Server(t, "etcd-member")
	c := etcdtest.StartWith(t, 1, etcdtest.Options{ClientTLS: &transport.TLSInfo{
		CertFile: member.CertFile, KeyFile: member.KeyFile, TrustedCAFile: ca.CertFile, ClientCertAuth: true}})
	etcdClient, api, nodes := ca.Client(t, "suanli-serve"), ca.Server(t, "api"), pkitest.NewCA(t, "nodes-ca")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir := t.TempDir()

	// Without the client certificate: refused, naming the flags.
	bad := serveConfig{Listen: "127.0.0.1:0", DataDir: filepath.Join(dir, "bad"), EtcdEndpoints: c.Endpoints(), EtcdCAFile: ca.CertFile, kube: kubeFlags{Off: true}}
	if err := runServe(context.Background(), bad, log); err == nil || !strings.Contains(err.Error(), "--etcd-certfile") {
		t.Fatalf("serve without the etcd client certificate: %v", err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	data := filepath.Join(dir, "data")
	sc := serveConfig{Listen: addr, DataDir: data, kube: kubeFlags{Off: true},
		EtcdEndpoints: c.Endpoints(), EtcdCAFile: ca.CertFile, EtcdCertFile: etcdClient.CertFile, EtcdKeyFile: etcdClient.KeyFile,
		TLSCert: api.CertFile, TLSKey: api.KeyFile, ClientCAFile: nodes.CertFile, ClientCAKeyFile: nodes.KeyFile}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runServe(ctx, sc, log) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	url := "https://" + addr
	hc, err := agent.HTTPClient(agent.TLSFiles{CAFile: ca.CertFile})
	if err != nil {
		t.Fatal(err)
	}
	var admin *v1.Client
	until(t, "the admin token", func() bool {
		b, err := os.ReadFile(filepath.Join(data, "admin.token"))
		if err != nil {
			return false
		}
		admin = v1.NewClient(url, strings.TrimSpace(string(b)))
		admin.HTTP = hc
		_, err = admin.Health(ctx)
		return err == nil
	})
	boot, err := admin.CreateToken(ctx, v1.TokenRequest{Role: v1.RoleBootstrap})
	if err != nil {
		t.Fatal(err)
	}
	bootFile := filepath.Join(dir, "bootstrap.token")
	if err := os.WriteFile(bootFile, []byte(boot.Secret), 0o600); err != nil {
		t.Fatal(err)
	}
	ns, err := admin.Nodes(ctx, "")
	if err != nil || len(ns) == 0 {
		t.Fatalf("nodes: %v", err)
	}
	node := ns[0].ID
	ac, err := agentClient(ctx, agentConfig{Server: url, CAFile: ca.CertFile, BootstrapTokenFile: bootFile, CredentialsDir: filepath.Join(dir, "agent")}, node, log)
	if err != nil {
		t.Fatal(err)
	}
	if ac.Token != "" {
		t.Fatal("the agent sends a bearer token although it holds a node certificate")
	}
	if _, err := ac.RegisterNode(ctx, v1.NodeRegistration{Node: node, Devices: []v1.NodeDevice{}}); err != nil {
		t.Fatalf("register with the node certificate over mutual TLS: %v", err)
	}
}

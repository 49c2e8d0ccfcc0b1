package main

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/httpapi"
	"github.com/suanli/suanli/internal/network"
	"github.com/suanli/suanli/internal/server"
	"github.com/suanli/suanli/internal/store/mem"
)

// TestAgentCredentials: the agent refuses to start without a node
// credential or with TLS flags on a plaintext server; with a bootstrap
// token it joins once, keeps the node's token, and a restart uses the
// kept token (the bootstrap token could no longer join the node).
func TestAgentCredentials(t *testing.T) {
	t.Setenv("SUANLI_TOKEN", "")
	t.Setenv("SUANLI_SERVER", "")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx := context.Background()
	dir := t.TempDir()
	for _, tt := range []struct {
		cfg  agentConfig
		want string
	}{
		{agentConfig{Server: "http://127.0.0.1:1", CredentialsDir: dir}, "no credential"},
		{agentConfig{Server: "http://127.0.0.1:1", CAFile: "ca.crt", Token: "x"}, "https://"},
		{agentConfig{Server: "https://127.0.0.1:1", CertFile: "n.crt", Token: "x"}, "--key-file"},
		{agentConfig{Server: "https://127.0.0.1:1", CAFile: filepath.Join(dir, "none.crt"), Token: "x"}, "--ca-file"},
	} {
		if _, err := agentClient(ctx, tt.cfg, "n1", log); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: %v, want an error naming %s", tt.cfg, err, tt.want)
		}
	}

	nw, err := network.Default(catalog.Default())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Store: mem.New(mem.Config{}), Network: nw})
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Run(sctx) }()
	hs := httptest.NewServer(httpapi.New(httpapi.Config{Backend: srv, Registry: srv.Registry()}))
	defer func() { hs.Close(); cancel(); <-done }()
	adminFile := filepath.Join(dir, "admin.token")
	if _, err := srv.Bootstrap(ctx, adminFile); err != nil {
		t.Fatal(err)
	}
	secret, _ := os.ReadFile(adminFile)
	boot, err := v1.NewClient(hs.URL, strings.TrimSpace(string(secret))).CreateToken(ctx, v1.TokenRequest{Role: v1.RoleBootstrap})
	if err != nil {
		t.Fatal(err)
	}
	bootFile := filepath.Join(dir, "bootstrap.token")
	if err := os.WriteFile(bootFile, []byte(boot.Secret), 0o600); err != nil {
		t.Fatal(err)
	}
	node := string(nw.Nodes[0].ID)
	cfg := agentConfig{Server: hs.URL, BootstrapTokenFile: bootFile, CredentialsDir: filepath.Join(dir, "agent")}
	for range 2 { // the second start reuses the kept credential
		c, err := agentClient(ctx, cfg, node, log)
		if err != nil {
			t.Fatal(err)
		}
		if c.Token == "" || c.Token == boot.Secret {
			t.Fatalf("agent token %q: want the node's own", c.Token)
		}
		if _, err := c.RegisterNode(ctx, v1.NodeRegistration{Node: node, Devices: []v1.NodeDevice{}}); err != nil {
			t.Fatalf("register with the node's token: %v", err)
		}
	}
}

package main

import (
	"context"
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

// TestSecretCommand: set, list and delete a tenant's secret through the
// CLI; no output shows a value.
func TestSecretCommand(t *testing.T) {
	nw, err := network.Default(catalog.Default())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	key, created, err := loadSecretKey(filepath.Join(dir, "secret.key"), true)
	if err != nil || !created {
		t.Fatalf("create key: %v %v", created, err)
	}
	srv, err := server.New(server.Config{Store: mem.New(mem.Config{}), Network: nw, SecretKey: key})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Run(ctx) }()
	hs := httptest.NewServer(httpapi.New(httpapi.Config{Backend: srv, Registry: srv.Registry()}))
	defer func() { hs.Close(); cancel(); <-done }()
	tokenFile := filepath.Join(dir, "admin.token")
	if _, err := srv.Bootstrap(ctx, tokenFile); err != nil {
		t.Fatal(err)
	}
	tok, _ := os.ReadFile(tokenFile)
	if _, err := v1.NewClient(hs.URL, strings.TrimSpace(string(tok))).PutTenant(ctx, v1.Tenant{ID: "acme", Class: "private"}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SUANLI_SERVER", hs.URL)
	t.Setenv("SUANLI_TOKEN", "")
	cert := filepath.Join(dir, "cert.pem")
	if err := os.WriteFile(cert, []byte("-----BEGIN CERT-----\nvalue-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, "secret", "set", "acme", "hf", "token=value-from-arg", "--from-file", "ca.pem="+cert, "--token-file", tokenFile)
	if err != nil || !strings.Contains(out, "keys: ca.pem, token") {
		t.Fatalf("set: %v\n%s", err, out)
	}
	out, err = run(t, "secret", "list", "acme", "--token-file", tokenFile)
	if err != nil || !strings.Contains(out, "hf") || !strings.Contains(out, "ca.pem,token") || strings.Contains(out, "value-from") {
		t.Fatalf("list: %v\n%s", err, out)
	}
	if out, err := run(t, "secret", "set", "acme", "hf", "novalue", "--token-file", tokenFile); err == nil || !strings.Contains(err.Error(), "KEY=VALUE") {
		t.Errorf("a bad argument: %v\n%s", err, out)
	}
	if out, err := run(t, "secret", "set", "nosuch", "hf", "a=b", "--token-file", tokenFile); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("an unknown tenant: %v\n%s", err, out)
	}
	if out, err := run(t, "secret", "delete", "acme", "hf", "--token-file", tokenFile); err != nil {
		t.Fatalf("delete: %v\n%s", err, out)
	}
	if out, _ := run(t, "secret", "list", "acme", "--token-file", tokenFile); strings.Contains(out, "hf") {
		t.Errorf("listed after delete:\n%s", out)
	}
}

// TestSecretKeyFile: the key is created once with mode 0600, read back the
// same, and a key others may read, or of the wrong size, is refused.
func TestSecretKeyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "secret.key")
	if _, _, err := loadSecretKey(path, false); err == nil {
		t.Fatal("a missing key file was taken without create")
	}
	k1, created, err := loadSecretKey(path, true)
	if err != nil || !created || len(k1) != server.SecretKeyBytes {
		t.Fatalf("create: %d %v %v", len(k1), created, err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode().Perm())
	}
	k2, created, err := loadSecretKey(path, true)
	if err != nil || created || string(k1) != string(k2) {
		t.Fatalf("read back: %v %v", created, err)
	}
	_ = os.Chmod(path, 0o644)
	if _, _, err := loadSecretKey(path, true); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("a world-readable key: %v", err)
	}
	short := filepath.Join(dir, "short.key")
	_ = os.WriteFile(short, []byte("abcd\n"), 0o600)
	if _, _, err := loadSecretKey(short, false); err == nil || !strings.Contains(err.Error(), "64 hex digits") {
		t.Errorf("a short key: %v", err)
	}
}

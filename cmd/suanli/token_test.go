package main

import (
	"os"
	"strings"
	"testing"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/network"
	"github.com/suanli/suanli/internal/server"
	"github.com/suanli/suanli/internal/store/mem"
)

// TestTokenCommand: create a node-bound agent token, list it with its
// scope and expiry, rotate the admin token into its own file (the next
// command uses the new secret, no restart), revoke.
func TestTokenCommand(t *testing.T) {
	nw, err := network.Default(catalog.Default())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Store: mem.New(mem.Config{}), Network: nw})
	if err != nil {
		t.Fatal(err)
	}
	ctx, url, tokenFile := startTestPlane(t, srv)
	old, _ := os.ReadFile(tokenFile)
	t.Setenv("SUANLI_SERVER", url)
	t.Setenv("SUANLI_TOKEN", "")
	flags := []string{"--token-file", tokenFile}
	node := string(nw.Nodes[0].ID)

	out, err := run(t, append([]string{"token", "create", "--agent", "--node", node, "--name", "n0"}, flags...)...)
	if err != nil || !strings.Contains(out, "secret (shown once): sl_") {
		t.Fatalf("create --agent --node: %v\n%s", err, out)
	}
	if out, err := run(t, append([]string{"token", "create", "--agent"}, flags...)...); err == nil || !strings.Contains(err.Error(), "node") {
		t.Fatalf("an agent token without node: %v\n%s", err, out)
	}
	if out, err := run(t, append([]string{"token", "create", "--role", "tenant", "--tenant", "acme", "--ttl", "-1h"}, flags...)...); err == nil {
		t.Fatalf("negative ttl accepted:\n%s", out)
	}
	out, err = run(t, append([]string{"token", "list"}, flags...)...)
	if err != nil || !strings.Contains(out, "node "+node) || !strings.Contains(out, "LAST USED") {
		t.Fatalf("list: %v\n%s", err, out)
	}
	ts, err := v1.NewClient(url, strings.TrimSpace(string(old))).Tokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var adminID, agentID string
	for _, tk := range ts {
		switch tk.Role {
		case v1.RoleAdmin:
			adminID = tk.ID
		case v1.RoleAgent:
			agentID = tk.ID
		}
	}
	out, err = run(t, append([]string{"token", "rotate", adminID, "--overlap", "0", "--out", tokenFile}, flags...)...)
	if err != nil || !strings.Contains(out, "no longer works") || strings.Contains(out, "sl_") {
		t.Fatalf("rotate the admin token: %v\n%s", err, out)
	}
	if now, _ := os.ReadFile(tokenFile); string(now) == string(old) {
		t.Fatal("the admin token file still holds the old secret")
	}
	if _, err := v1.NewClient(url, strings.TrimSpace(string(old))).Tokens(ctx); err == nil {
		t.Fatal("the old admin secret still works after a rotation without overlap")
	}
	if out, err := run(t, append([]string{"token", "revoke", agentID}, flags...)...); err != nil || !strings.Contains(out, "revoked") {
		t.Fatalf("revoke with the rotated admin token: %v\n%s", err, out)
	}
}

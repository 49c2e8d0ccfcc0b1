package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/audit"
	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/network"
	"github.com/suanli/suanli/internal/server"
	"github.com/suanli/suanli/internal/store/mem"
)

// TestClientDrivesAJob: submit → placed → cancelled through the CLI
// against an in-process server, then usage and audit verify.
func TestClientDrivesAJob(t *testing.T) {
	nw, err := network.Default(catalog.Default())
	if err != nil {
		t.Fatal(err)
	}
	akey, _, err := audit.LoadOrCreateKey(filepath.Join(t.TempDir(), "audit.key"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Store: mem.New(mem.Config{}), Network: nw, AuditKey: akey})
	if err != nil {
		t.Fatal(err)
	}
	ctx, url, tokenFile := startTestPlane(t, srv)
	dir := filepath.Dir(tokenFile)
	tok, _ := os.ReadFile(tokenFile)
	if _, err := v1.NewClient(url, strings.TrimSpace(string(tok))).PutTenant(ctx, v1.Tenant{ID: "acme", Class: "private"}); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "client.yaml")
	if err := os.WriteFile(cfg, []byte("server: "+url+"\ntoken_file: "+tokenFile+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SUANLI_SERVER", "")
	t.Setenv("SUANLI_TOKEN", "")
	spec := filepath.Join(dir, "job.yaml")
	if err := os.WriteFile(spec, []byte("tenant: acme\nkind: gang\nworkers: 2\ncards_per_worker: 8\ntopology: domain\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, "submit", spec, "--config", cfg)
	if err != nil {
		t.Fatalf("submit: %v\n%s", err, out)
	}
	id, _, _ := strings.Cut(strings.TrimSpace(out), " ")
	if !strings.HasPrefix(id, "j-") {
		t.Fatalf("submit printed %q", out)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err = run(t, "jobs", "--config", cfg)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out, "placed") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not placed after 10 s:\n%s", out)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if out, err = run(t, "explain", id, "--config", cfg); err != nil || !strings.Contains(out, "placed") ||
		!strings.Contains(out, "chosen:     score") || !strings.Contains(out, "runner-up:  domain ") {
		t.Fatalf("explain: %v\n%s", err, out)
	}
	if out, err = run(t, "workload", "--config", cfg); err != nil || !strings.Contains(out, "POPULARITY") || !strings.Contains(out, "8 cards") {
		t.Fatalf("workload: %v\n%s", err, out)
	}
	if out, err = run(t, "job", id, "--config", cfg); err != nil || !strings.Contains(out, "placement (FP16") || !strings.Contains(out, "tenant acme, gang 2×8") {
		t.Fatalf("job: %v\n%s", err, out)
	}
	if out, err = run(t, "job", id, "--config", cfg, "-o", "json"); err != nil || !strings.Contains(out, `"assignments"`) {
		t.Fatalf("job -o json: %v\n%s", err, out)
	}
	if out, err = run(t, "cancel", id, "--config", cfg); err != nil || !strings.Contains(out, "cancelled") {
		t.Fatalf("cancel: %v\n%s", err, out)
	}
	month := time.Now().UTC().Format("2006-01")
	if out, err = run(t, "usage", "--tenant", "acme", "--month", month, "--config", cfg); err != nil || !strings.Contains(out, "total") {
		t.Fatalf("usage: %v\n%s", err, out)
	}
	if out, err = run(t, "audit", "verify", "--config", cfg); err != nil || !strings.Contains(out, "intact") {
		t.Fatalf("audit verify: %v\n%s", err, out)
	}
	pub := audit.NewSigner(akey).Public()
	if out, err = run(t, "audit", "verify", "--key", pub, "--config", cfg); err != nil || !strings.Contains(out, "signed by the given key") {
		t.Fatalf("audit verify --key: %v\n%s", err, out)
	}
	other, _, _ := audit.LoadOrCreateKey(filepath.Join(t.TempDir(), "other.key"))
	if out, err = run(t, "audit", "verify", "--key", audit.NewSigner(other).Public(), "--config", cfg); err == nil || !strings.Contains(out, "not a trusted key") {
		t.Fatalf("audit verify with another key: %v\n%s", err, out)
	}
	// Bad input exits 2 with the field named.
	bad := filepath.Join(dir, "bad.yaml")
	_ = os.WriteFile(bad, []byte("tenant: acme\nkind: gang\nworkers: 0\n"), 0o600)
	out, err = run(t, "submit", bad, "--config", cfg)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(err.Error(), "workers") {
		t.Fatalf("bad submit: %v\n%s", err, out)
	}
	// Flags beat the config file.
	if _, err = run(t, "jobs", "--config", cfg, "--token", "sl_wrong"); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("--token did not override the file: %v", err)
	}
}

package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	v1 "github.com/suanli/suanli/api/v1"
	"sigs.k8s.io/yaml"
)

// TestTenantCommands: create, list in every format, set-quota; a second
// create and a set-quota of an unknown tenant are refused with the next
// step named; a tenant token may not register tenants.
func TestTenantCommands(t *testing.T) {
	s := newCLIServer(t)
	ctx := context.Background()
	out, err := run(t, "tenant", "create", "grid", "--class", "state-owned", "--name", "State Grid", "--quota", "2PF", "--vendor-cap", "nvidia=64")
	if err != nil || !strings.Contains(out, "tenant grid created (state-owned, quota 2.000 PFLOPS, weight 1)") {
		t.Fatalf("create: %v\n%s", err, out)
	}
	got, err := getTenant(ctx, s.admin, "grid")
	if err != nil || got.QuotaGFLOPS != 2_000_000 || got.VendorCaps["nvidia"] != 64 || got.Name != "State Grid" {
		t.Fatalf("stored tenant %+v %v", got, err)
	}
	var ee *exitError
	if _, err := run(t, "tenant", "create", "grid", "--class", "private"); !errorsAs(err, &ee) || ee.code != 2 || !strings.Contains(err.Error(), "set-quota") {
		t.Errorf("second create: %v", err)
	}
	if _, err := run(t, "tenant", "create", "nocls"); err == nil || !strings.Contains(err.Error(), "--class") {
		t.Errorf("create without --class: %v", err)
	}
	if _, err := run(t, "tenant", "create", "bad", "--class", "martian"); !errorsAs(err, &ee) || ee.code != 2 || !strings.Contains(err.Error(), "class") {
		t.Errorf("create with a bad class: %v", err)
	}

	out, err = run(t, "tenant", "set-quota", "grid", "--quota", "500TF", "--weight", "3", "--vendor-cap", "nvidia=none")
	if err != nil || !strings.Contains(out, "tenant grid: quota 0.500 PFLOPS, weight 3") {
		t.Fatalf("set-quota: %v\n%s", err, out)
	}
	got, _ = getTenant(ctx, s.admin, "grid")
	if got.QuotaGFLOPS != 500_000 || got.Weight != 3 || len(got.VendorCaps) != 0 || got.Class != "state-owned" || got.Name != "State Grid" {
		t.Fatalf("after set-quota: %+v", got)
	}
	if _, err := run(t, "tenant", "set-quota", "nobody", "--quota", "1PF"); !errorsAs(err, &ee) || ee.code != 2 || !strings.Contains(err.Error(), "tenant create nobody") {
		t.Errorf("set-quota of an unknown tenant: %v", err)
	}
	if _, err := run(t, "tenant", "set-quota", "grid"); err == nil || !strings.Contains(err.Error(), "nothing to change") {
		t.Errorf("set-quota with nothing: %v", err)
	}

	out, err = run(t, "tenant", "list")
	if err != nil || !strings.Contains(out, "ID") || !strings.Contains(out, "grid") || !strings.Contains(out, "0.500 PFLOPS") || strings.Contains(out, "State Grid") {
		t.Fatalf("list: %v\n%s", err, out)
	}
	if out, _ = run(t, "tenant", "list", "-o", "wide"); !strings.Contains(out, "State Grid") || !strings.Contains(out, "VENDOR CAPS") {
		t.Errorf("list -o wide:\n%s", out)
	}
	var ts []v1.Tenant
	if out, _ = run(t, "tenant", "list", "-o", "json"); json.Unmarshal([]byte(out), &ts) != nil || len(ts) != 2 {
		t.Errorf("list -o json:\n%s", out)
	}
	ts = nil
	if out, _ = run(t, "tenant", "list", "-o", "yaml"); yaml.Unmarshal([]byte(out), &ts) != nil || len(ts) != 2 || strings.HasPrefix(out, "[") {
		t.Errorf("list -o yaml:\n%s", out)
	}
	if _, err := run(t, "tenant", "list", "-o", "xml"); !errorsAs(err, &ee) || ee.code != 2 {
		t.Errorf("-o xml: %v", err)
	}

	// A tenant's own token may not register tenants.
	tok, err := s.admin.CreateToken(ctx, v1.TokenRequest{Role: v1.RoleTenant, Tenant: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, "tenant", "create", "mine", "--class", "private", "--token", tok.Secret); !errorsAs(err, &ee) || ee.code != 2 || !strings.Contains(err.Error(), "403") {
		t.Errorf("tenant token creating a tenant: %v", err)
	}
}

// TestJobsOutputFormats: jobs -o wide adds columns, -o yaml and -o json
// print the list.
func TestJobsOutputFormats(t *testing.T) {
	newCLIServer(t)
	if out, err := run(t, "submit", "../../examples/jobs/fractional-inference.yaml"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	out, err := run(t, "jobs", "-o", "wide")
	if err != nil || !strings.Contains(out, "SHAPE") || !strings.Contains(out, "6×0.250") || !strings.Contains(out, "chat-serving") {
		t.Fatalf("jobs -o wide: %v\n%s", err, out)
	}
	var l v1.JobList
	if out, _ = run(t, "jobs", "-o", "yaml"); yaml.Unmarshal([]byte(out), &l) != nil || len(l.Jobs) != 1 || l.Jobs[0].Spec.ShareMilli != 250 {
		t.Errorf("jobs -o yaml:\n%s", out)
	}
	if out, _ = run(t, "jobs", "--json"); json.Unmarshal([]byte(out), &l) != nil || len(l.Jobs) != 1 {
		t.Errorf("jobs --json:\n%s", out)
	}
	if _, err := run(t, "jobs", "--json", "-o", "yaml"); err == nil {
		t.Error("--json with -o yaml accepted")
	}
}

// TestNodesCommand: nodes of one site, as a table, wide and JSON; an
// unknown site is a usage error.
func TestNodesCommand(t *testing.T) {
	newCLIServer(t)
	out, err := run(t, "nodes", "--site", "cm-guangzhou")
	if err != nil || strings.Count(out, "\n") != 769 || !strings.Contains(out, "huawei-ascend-910c") || strings.Contains(out, "DOMAIN") {
		t.Fatalf("nodes --site cm-guangzhou: %v (%d lines)", err, strings.Count(out, "\n"))
	}
	if out, _ = run(t, "nodes", "--site", "cm-guangzhou", "-o", "wide"); !strings.Contains(out, "DOMAIN") || !strings.Contains(out, "unregistered") {
		t.Errorf("nodes -o wide lacks columns:\n%.300s", out)
	}
	var ns []v1.Node
	if out, _ = run(t, "nodes", "--site", "cm-guangzhou", "-o", "json"); json.Unmarshal([]byte(out), &ns) != nil || len(ns) != 768 {
		t.Errorf("nodes -o json: %d nodes", len(ns))
	}
	if out, _ = run(t, "nodes", "--site", "cm-guangzhou", "--state", "lost"); strings.Count(out, "\n") != 1 {
		t.Errorf("nodes --state lost listed nodes:\n%.300s", out)
	}
	var ee *exitError
	if _, err := run(t, "nodes", "--site", "nowhere"); !errorsAs(err, &ee) || ee.code != 2 {
		t.Errorf("nodes --site nowhere: %v", err)
	}
	if _, err := run(t, "nodes", "--state", "gone"); !errorsAs(err, &ee) || ee.code != 2 {
		t.Errorf("nodes --state gone: %v", err)
	}
}

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/network"
	"github.com/suanli/suanli/internal/server"
	"github.com/suanli/suanli/internal/store/mem"
)

// TestPolicyCommands drives compliance, advisory, policy and capacity
// --server against an in-process server: an evict advisory on the H20
// moves a sensitive job off it and compliance shows no violation.
func TestPolicyCommands(t *testing.T) {
	nw, err := network.Parse([]byte(`
name: p
sites:
- {id: gz, region: South, operator: China Mobile, ownership: self-built, pools: [{model: cambricon-mlu370-x8, nodes: 2, cards_per_node: 8}]}
- {id: sh, region: East, operator: Leaser, ownership: leased, pools: [{model: nvidia-h20, nodes: 2, cards_per_node: 8}]}
`), "p", catalog.Default())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Store: mem.New(mem.Config{}), Network: nw, TickEvery: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, url, tokenFile := startTestPlane(t, srv)
	dir := filepath.Dir(tokenFile)
	t.Setenv("SUANLI_SERVER", url)
	t.Setenv("SUANLI_TOKEN", "")
	tok, _ := os.ReadFile(tokenFile)
	admin := v1.NewClient(url, strings.TrimSpace(string(tok)))
	for _, tn := range []v1.Tenant{{ID: "acme", Class: "private"}, {ID: "gov", Class: "government"}} {
		if _, err := admin.PutTenant(ctx, tn); err != nil {
			t.Fatal(err)
		}
	}
	// The MLU370 cards are busy, so the flexible sensitive job lands on the
	// H20 next to a pinned one.
	var blockers []string
	for range 2 {
		b, err := admin.Submit(ctx, v1.JobSpec{Tenant: "acme", Kind: "gang", Workers: 1, CardsPerWorker: 8, Models: []string{"cambricon-mlu370-x8"}})
		if err != nil {
			t.Fatal(err)
		}
		blockers = append(blockers, b.ID)
	}
	j, err := admin.Submit(ctx, v1.JobSpec{Tenant: "gov", Kind: "gang", Workers: 1, CardsPerWorker: 8, Models: []string{"nvidia-h20"}, Classification: "sensitive"})
	if err != nil {
		t.Fatal(err)
	}
	waitPlaced := func(id string) *v1.Job {
		for range 400 {
			got, err := admin.Job(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if got.State == v1.StatePlaced {
				return got
			}
			time.Sleep(25 * time.Millisecond)
		}
		t.Fatalf("job %s not placed", id)
		return nil
	}
	for _, b := range blockers {
		waitPlaced(b)
	}
	waitPlaced(j.ID)
	flex, err := admin.Submit(ctx, v1.JobSpec{Tenant: "gov", Kind: "gang", Workers: 1, CardsPerWorker: 8, Models: []string{"nvidia-h20", "cambricon-mlu370-x8"}, Classification: "sensitive"})
	if err != nil {
		t.Fatal(err)
	}
	if got := waitPlaced(flex.ID); got.Placement.Assignments[0].Model != "nvidia-h20" {
		t.Fatalf("the flexible job went to %+v", got.Placement)
	}
	if _, err := admin.Cancel(ctx, blockers[0]); err != nil {
		t.Fatal(err)
	}

	// Capacity, compliance and the other index-backed reports follow the
	// store through a watch: they show a write a moment after it is
	// acknowledged, so poll them.
	eventually := func(what string, ok func(out string, err error) bool, args ...string) string {
		t.Helper()
		var out string
		var err error
		for deadline := time.Now().Add(10 * time.Second); ; {
			out, err = run(t, args...)
			if ok(out, err) {
				return out
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %v\n%s", what, err, out)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	eventually("capacity --server", func(out string, err error) bool {
		return err == nil && strings.Contains(out, "allocated: 0.003 EFLOPS")
	},
		"capacity", "--server", url, "--token-file", tokenFile)
	out, err := run(t, "advisory", "file", "--model", "H20", "--action", "evict", "--class", "sensitive", "--severity", "critical", "--summary", "under review", "--token-file", tokenFile)
	if err != nil || !strings.Contains(out, "filed: evict critical on nvidia-h20") {
		t.Fatalf("advisory file: %v\n%s", err, out)
	}
	id, _, _ := strings.Cut(out, " ")
	// The flexible job moves to the MLU370; the pinned one waits. Each
	// record is written when the loop commits it, so wait for both.
	for deadline := time.Now().Add(10 * time.Second); ; {
		got, _ := admin.Job(ctx, flex.ID)
		pinned, _ := admin.Job(ctx, j.ID)
		if got.State == v1.StatePlaced && got.Placement.Assignments[0].Model == "cambricon-mlu370-x8" &&
			pinned != nil && pinned.Placement == nil && (pinned.State == v1.StatePending || pinned.State == v1.StateBlocked) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the flexible sensitive job is %s on %+v; the pinned one %s", got.State, got.Placement, pinned.State)
		}
		time.Sleep(10 * time.Millisecond)
	}
	eventually("compliance", func(out string, err error) bool {
		return err == nil && strings.Contains(out, id) && strings.Contains(out, "Violations: 0")
	}, "compliance", "--token-file", tokenFile)
	out, err = run(t, "advisory", "list", "--token-file", tokenFile)
	if err != nil || !strings.Contains(out, id) || !strings.Contains(out, "sensitive") {
		t.Fatalf("advisory list: %v\n%s", err, out)
	}
	if out, err = run(t, "advisory", "lift", id, "--token-file", tokenFile); err != nil {
		t.Fatalf("advisory lift: %v\n%s", err, out)
	}
	waitPlaced(j.ID)
	if out, _ = run(t, "advisory", "list", "--token-file", tokenFile); strings.Contains(out, id) {
		t.Errorf("a lifted advisory listed without --all:\n%s", out)
	}
	bad := filepath.Join(dir, "bad.yaml")
	_ = os.WriteFile(bad, []byte("version: 1\nrules:\n- id: R1\n  effect: require\n  require: {origin: mars}\n  colour: red\n"), 0o600)
	out, err = run(t, "policy", "replace", bad, "--token-file", tokenFile)
	if err == nil || !strings.Contains(err.Error(), "rules[0].require.origin") || !strings.Contains(err.Error(), "rules[0].colour") {
		t.Fatalf("a bad policy: %v\n%s", err, out)
	}
	good := filepath.Join(dir, "good.yaml")
	_ = os.WriteFile(good, []byte("version: 1\nname: baseline\nrules:\n- id: R1\n  match: {classification: sensitive}\n  effect: require\n  require: {origin: domestic}\n"), 0o600)
	if out, err = run(t, "policy", "replace", good, "--token-file", tokenFile); err != nil || !strings.Contains(out, "version 1") {
		t.Fatalf("policy replace: %v\n%s", err, out)
	}
	if out, err = run(t, "policy", "get", "--token-file", tokenFile); err != nil || !strings.Contains(out, "origin: domestic") {
		t.Fatalf("policy get: %v\n%s", err, out)
	}
}

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

// TestThroughputLearnedCmd: `suanli throughput learned` shows the server's
// default and learned figures after an agent's progress report, and a job
// naming an unknown workload class is refused with the field.
func TestThroughputLearnedCmd(t *testing.T) {
	nw, err := network.Parse([]byte("name: t\nsites:\n- id: gz\n  region: South\n  operator: x\n  province: Guizhou\n  ownership: self-built\n  pools:\n  - {model: huawei-ascend-910b4, nodes: 1, cards_per_node: 8}\n"), "t", catalog.Default())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Store: mem.New(mem.Config{}), Network: nw, TickEvery: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, url, tokenFile := startTestPlane(t, srv)
	tok, _ := os.ReadFile(tokenFile)
	admin := v1.NewClient(url, strings.TrimSpace(string(tok)))
	if _, err := admin.PutTenant(ctx, v1.Tenant{ID: "acme", Class: "private"}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Submit(ctx, v1.JobSpec{Tenant: "acme", Kind: "batch", Workers: 1, CardsPerWorker: 1, WorkloadClass: "nope"}); err == nil || !strings.Contains(err.Error(), "workload_class") {
		t.Fatalf("unknown class: %v", err)
	}
	job, err := admin.Submit(ctx, v1.JobSpec{Tenant: "acme", Kind: "batch", Workers: 1, CardsPerWorker: 1, WorkloadClass: "llm-decode"})
	if err != nil {
		t.Fatal(err)
	}
	var j *v1.Job
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if j, err = admin.Job(ctx, job.ID); err != nil {
			t.Fatal(err)
		}
		if j.State == v1.StatePlaced {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job is %s", j.State)
		}
	}
	at, err := admin.CreateToken(ctx, v1.TokenRequest{Role: v1.RoleAgent, Name: "a", Sites: []string{"gz"}})
	if err != nil {
		t.Fatal(err)
	}
	agent := v1.NewClient(url, at.Secret)
	if _, err := agent.ReportWorker(ctx, job.ID, v1.WorkerReport{Node: j.Placement.Assignments[0].Node, Worker: 0, PlacedAt: j.PlacedAt, State: v1.StateRunning,
		Progress: &v1.Progress{Work: 12345, Seconds: 10, Reports: 3, Until: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "client.yaml")
	_ = os.WriteFile(cfg, []byte("server: "+url+"\ntoken_file: "+tokenFile+"\n"), 0o600)
	t.Setenv("SUANLI_SERVER", "")
	t.Setenv("SUANLI_TOKEN", "")
	out, err := run(t, "throughput", "learned", "--reported", "--config", cfg)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "LEARNED") || !strings.Contains(lines[1], "llm-decode") ||
		!strings.Contains(lines[1], "huawei-ascend-910b4") || !strings.Contains(lines[1], "1235") || !strings.Contains(lines[1], "derived") {
		t.Fatalf("learned table:\n%s", out)
	}
	out, err = run(t, "throughput", "learned", "--class", "vision-train", "--config", cfg)
	if err != nil || strings.Count(out, "vision-train") != 1 || strings.Contains(out, "llm-decode") {
		t.Fatalf("--class vision-train: %v\n%s", err, out)
	}
}

package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/suanli/suanli/internal/sched"
)

// TestDryRunNamesPlaceTerms: a dry run names the place component's terms
// with their values: energy per PFLOP-hour at the chosen site, the data's
// transfer time, the round trip to the users; unknown places are refused
// with a suggestion.
func TestDryRunNamesPlaceTerms(t *testing.T) {
	srv := newCLIServer(t)
	out, err := run(t, "submit", "../../examples/jobs/fractional-inference.yaml", "--dry-run")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"place ", "CNY/PFLOP-h", "users ", " ms away −"} {
		if !strings.Contains(out, want) {
			t.Errorf("inference dry run lacks %q:\n%s", want, out)
		}
	}
	out, err = run(t, "submit", "../../examples/jobs/batch-task.yaml", "--dry-run")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, "data transfer ") || strings.Contains(out, "ms away") {
		t.Errorf("batch dry run with data:\n%s", out)
	}
	// Submitted, the job keeps where its users and data are; once placed,
	// explain names the terms.
	out, err = run(t, "submit", "../../examples/jobs/batch-task.yaml")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	id, _, _ := strings.Cut(strings.TrimSpace(out), " ")
	j, err := srv.admin.Job(context.Background(), id)
	if err != nil || j.Spec.Data == nil || j.Spec.Data.Site != "cm-beijing" || j.Spec.Data.SizeGB != 200 {
		t.Fatalf("submitted job: %v %+v", err, j)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err = run(t, "explain", id)
		if err == nil && strings.Contains(out, "chosen:") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("explain: %v\n%s", err, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(out, "CNY/PFLOP-h") || !strings.Contains(out, "data transfer ") {
		t.Errorf("explain of a placed job lacks its terms:\n%s", out)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	_ = os.WriteFile(bad, []byte("tenant: acme\nkind: batch\nworkers: 1\ncards_per_worker: 1\nusers: Guangdon\ndata: {site: cm-bejing, size_gb: 5}\n"), 0o600)
	out, err = run(t, "submit", bad, "--dry-run")
	if err == nil || !strings.Contains(out+err.Error(), `did you mean "Guangdong"`) || !strings.Contains(out+err.Error(), `did you mean "cm-beijing"`) {
		t.Fatalf("unknown places: %v\n%s", err, out)
	}
}

// TestReplayPlaceCostFlag: --place-cost=false gives the core the default
// weights without the place component; by default it keeps them.
func TestReplayPlaceCostFlag(t *testing.T) {
	cmd := newReplayCmd()
	if err := cmd.ParseFlags(nil); err != nil {
		t.Fatal(err)
	}
	var on replayConfig
	on.placeCost = true
	if w := on.coreConfig().Sched.Weights; w != (sched.Weights{}) {
		t.Errorf("default replay weights %+v, want the scheduler's defaults", w)
	}
	off := replayConfig{placeCost: false}
	w := off.coreConfig().Sched.Weights
	if w.Place != 0 || w.Frag != sched.DefaultConfig().Weights.Frag {
		t.Errorf("--place-cost=false weights %+v", w)
	}
	if f := cmd.Flags().Lookup("place-cost"); f == nil || f.DefValue != "true" {
		t.Errorf("--place-cost flag: %+v", f)
	}
}
